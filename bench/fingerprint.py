"""The environment stored in results.json: everything a number depends on beyond the config.

bench/schema.py FINGERPRINT_KEYS names the fields that must match before two runs compare.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

from linreg.environment import collect_environment

PACKAGES = {"torch": "torch", "onnxruntime": "onnxruntime", "onnx": "onnx",
            "onnxscript": "onnxscript", "numpy": "numpy"}


def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


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


def fingerprint(threads: int, allocator: dict[str, str]) -> dict[str, Any]:
    """results.json's `environment`: linreg's environment plus GPU, versions, threads, allocator."""
    import torch

    env = collect_environment()
    has_cuda = torch.cuda.is_available()
    ort_providers: list[str] = []
    try:
        import onnxruntime

        ort_providers = list(onnxruntime.get_available_providers())
    except ImportError:
        pass
    env.update({
        "gpu_name": torch.cuda.get_device_name(0) if has_cuda else None,
        "gpu_count": torch.cuda.device_count() if has_cuda else 0,
        "gpu_driver": gpu_driver() if has_cuda else None,
        "cuda_version": torch.version.cuda,
        "versions": {**{k: package_version(d) for k, d in PACKAGES.items()},
                     "torch": torch.__version__, "python": platform.python_version()},
        # torch and ORT intra-op threads are pinned to the same count in every worker
        "threads": {"torch": threads, "onnxruntime": threads},
        "allocator": dict(sorted(allocator.items())),
        "onnxruntime_providers": ort_providers,
    })
    env.pop("torch_threads", None)  # this process's count, not the workers': `threads` says it
    return env
