"""The environment stored in results.json: everything a number depends on beyond the config.

bench/store/schema.py FINGERPRINT_KEYS names the fields that must match before two runs compare.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
from typing import Any

from bench.store.identity import machine_id
from bench.store.schema import PACKAGES
from bench.store.machine import machine_details
from linreg.device import parse_device
from linreg.environment import collect_environment, package_versions



def gpu_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi, or None without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def gpu_names(devices: tuple[str, ...] | list[str]) -> dict[str, str]:
    """{device: GPU name} of the CUDA devices among `devices` that exist here ("cuda" is cuda:0)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    out: dict[str, str] = {}
    for device in dict.fromkeys(devices):
        spec = parse_device(device)
        if spec.kind != "cuda":
            continue
        index = spec.ordinal
        if index < torch.cuda.device_count():
            out[device] = torch.cuda.get_device_name(index)
    return out


def thread_setting(threads: int | tuple[int, ...]) -> int | list[int]:
    """How results.json records the thread counts: one as a number (as before lists), else the list."""
    counts = (threads,) if isinstance(threads, int) else tuple(threads)
    return counts[0] if len(counts) == 1 else list(counts)


def fingerprint(threads: int | tuple[int, ...], allocator: dict[str, str],
                devices: tuple[str, ...] | list[str] = (),
                load_start: float | None = None) -> dict[str, Any]:
    """results.json's `environment`: linreg's environment plus GPU, versions, threads, allocator.

    gpu_names maps each CUDA device the run measured on to its GPU's name; gpu_name is the
    first of them (None when no GPU was used, even if one is present).
    """
    import torch

    setting = thread_setting(threads)
    env = collect_environment()
    has_cuda = torch.cuda.is_available()
    used = gpu_names(devices)
    ort_providers: list[str] = []
    try:
        import onnxruntime

        ort_providers = list(onnxruntime.get_available_providers())
    except ImportError:
        pass
    env.update({
        "machine_id": machine_id(),  # the history store's folder for this machine
        "gpu_name": next(iter(used.values()), None),
        "gpu_names": used,
        "gpu_count": torch.cuda.device_count() if has_cuda else 0,
        "gpu_driver": gpu_driver() if has_cuda else None,
        "cuda_version": torch.version.cuda,
        "versions": {**package_versions(PACKAGES),
                     "torch": torch.__version__, "python": platform.python_version()},
        # torch and ORT intra-op threads are pinned to the same count in every worker; a run of
        # several counts records the list (each measurement carries its own `threads`)
        "threads": {"torch": setting, "onnxruntime": setting},
        "allocator": dict(sorted(allocator.items())),
        "onnxruntime_providers": ort_providers,
        **machine_details(load_start),  # ISA, flags, caches, kernel, load (bench/store/machine.py)
    })
    env.pop("torch_threads", None)  # this process's count, not the workers': `threads` says it
    return env
