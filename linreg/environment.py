"""What a result depends on beyond its config: versions, hardware, threads, git revision."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch


@functools.cache
def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, or platform's best guess elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def package_versions(names: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """{distribution: installed version, or None where it is not installed}: the one versions helper."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_count() -> int | None:
    """CPUs this process may run on (affinity), which is what threads compete for."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def pin_threads(threads: int) -> int:
    """Fix torch's intra-op thread count; results at large N depend on it (reduction order)."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def git_revision(start: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """{"commit", "dirty"} of the git checkout holding this package, or None outside one."""
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def collect_environment(device: torch.device | None = None) -> dict[str, Any]:
    """The fingerprint stored beside every result."""
    device = device or torch.device("cpu")
    cuda_version = torch.version.cuda
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "device": str(device),
        "device_name": _device_name(device),
        "cuda_version": cuda_version,
        "cuda_available": torch.cuda.is_available(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "argv": list(sys.argv),
        "git": git_revision(),
    }
    if device.type == "cuda":
        env["cudnn_version"] = torch.backends.cudnn.version()
        env["gpu_capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    return env


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return cpu_model()


def physical_memory_bytes() -> int:
    """This machine's memory, or a huge number where the OS does not say (then nothing is refused)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.3g} GiB"
