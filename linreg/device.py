"""Device selection: `auto`, `cpu`, `cuda`, `cuda:N`, `mps`. An absent device is an error."""
from __future__ import annotations

import re
from typing import NamedTuple

import torch

from linreg.errors import LinregError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N, mps"
_DEVICE_RE = re.compile(r"(cpu|mps|cuda)(?::(\d+))?")


class DeviceError(LinregError):
    """The requested device is unknown or not present on this machine."""


class DeviceSpec(NamedTuple):
    """A device string taken apart: kind "cpu" | "cuda" | "mps", and the CUDA index if one was given."""

    kind: str
    index: int | None = None

    @property
    def ordinal(self) -> int:
        """The index, 0 when none was given (`cuda` is `cuda:0`)."""
        return self.index or 0


def parse_device(spec: str) -> DeviceSpec:
    """The one parser of device strings: cpu, mps, cuda, cuda:N (any case, spaces ignored).

    Pure: it says what the string names, not whether that device exists here (resolve_device).
    """
    text = str(spec).strip().lower()
    match = _DEVICE_RE.fullmatch(text)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise DeviceError(f"unknown device {spec!r} (choose from cpu, cuda, cuda:N, mps)")
    return DeviceSpec(match.group(1), None if match.group(2) is None else int(match.group(2)))


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
    try:
        parsed = parse_device(spec)
    except DeviceError:
        raise DeviceError(f"unknown device {spec!r} (choose from {DEVICE_CHOICES})") from None
    if not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r} is not available: torch sees no CUDA device")
    index = parsed.index if parsed.index is not None else torch.cuda.current_device()
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
