"""Device helpers every axis shares: can it run here, how to wait for it, how to make it current.

Device strings are taken apart by linreg.device.parse_device, the one parser; nothing here
matches on text. torch is imported inside the functions, so `import bench` stays fast.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager

from linreg.device import DeviceError, parse_device


def device_skip_reason(device: str) -> str | None:
    """Why `device` cannot run here (e.g. "cuda: no CUDA device"), or None when it can."""
    import torch

    try:
        spec = parse_device(device)
    except DeviceError:
        return f"{device}: unknown device"
    if spec.kind == "cuda":
        if not torch.cuda.is_available():
            return "cuda: no CUDA device"
        if spec.ordinal >= torch.cuda.device_count():
            return f"{device}: torch sees {torch.cuda.device_count()} CUDA device(s)"
        return None
    if spec.kind == "mps":
        backend = getattr(torch.backends, "mps", None)
        return None if backend and backend.is_available() else "mps: not available"
    return None


def is_cuda(device: str) -> bool:
    return parse_device(device).kind == "cuda"


def device_sync(device: str) -> Callable[[], None] | None:
    """The wait-for-the-device hook of `device` (None on the CPU): cuda and mps queue work."""
    import torch

    kind = parse_device(device).kind
    if kind == "cuda":
        return lambda: torch.cuda.synchronize(device)  # a CPU-GPU sync point, once per block
    if kind == "mps":
        return torch.mps.synchronize
    return None


def device_context(device: str) -> ContextManager[Any]:
    """Makes a cuda:N device the current one (streams, graphs, timing); a no-op elsewhere."""
    import torch

    if is_cuda(device):
        return torch.cuda.device(device)
    return contextlib.nullcontext()


def compile_cache_state() -> dict[str, int]:
    """Inductor's FX-graph cache hits and misses so far in this process (for cold/warm notes)."""
    try:
        from torch._dynamo.utils import counters

        return {"hit": int(counters["inductor"]["fxgraph_cache_hit"]),
                "miss": int(counters["inductor"]["fxgraph_cache_miss"])}
    except Exception:  # a torch without the counters: the note just says "unknown"
        return {"hit": 0, "miss": 0}


def compile_cache_note(before: dict[str, int], after: dict[str, int]) -> str:
    """"cold" (some graph compiled from scratch), "warm" (all from the cache) or "unknown"."""
    if after["miss"] > before["miss"]:
        return "cold"
    if after["hit"] > before["hit"]:
        return "warm"
    return "unknown"


def split_present(devices: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the devices this machine has, "device: why not" for the others): the default --devices
    measures what is here and names the rest in one line, instead of a skip record per size."""
    present, absent = [], []
    for device in devices:
        reason = device_skip_reason(device)
        (absent if reason else present).append(reason or device)
    return tuple(present) or ("cpu",), tuple(absent)
