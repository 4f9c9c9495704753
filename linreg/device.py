"""Device selection: `auto`, `cpu`, `cuda`, `cuda:N`, `mps`. An absent device is an error."""
from __future__ import annotations

import re

import torch

from linreg.errors import LinregError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"


class DeviceError(LinregError):
    """The requested device is unknown or not present on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(spec: str) -> torch.device:
    """Turn a device spec into a torch.device that exists here; never falls back silently."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' is not available on this machine")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if match is None:
        raise DeviceError(f"unknown device {spec!r} (choose from {DEVICE_CHOICES})")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r} is not available: torch sees no CUDA device")
    index = int(match.group(1)) if match.group(1) is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"device {spec!r} is not available: torch sees {count} CUDA device(s)")
    return torch.device("cuda", index)


def synchronize(device: torch.device) -> None:
    """Wait for queued work on the device; a no-op on the CPU. Note: a CPU-GPU sync point."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
