"""Memory per runtime: the worker's peak resident memory above its own baseline, and CUDA's peak.

The baseline is read before the runtime loads, so the figure holds the runtime (its module,
session, arenas, compiled kernels) and what its calls allocate, not Python, torch and numpy,
which every worker imports alike. Linux keeps a high-water mark of resident memory (VmHWM);
writing "5" to /proc/self/clear_refs resets it, so each measurement gets its own peak. Where that
reset is refused, the peak is the process's since its start (stated in `rss_peak_scope`).
On CUDA, torch's caching allocator reports max_memory_allocated (torch runtimes only: ONNX
Runtime's CUDA arena is its own and its Python API exposes no reading of it, said in the record).
"""
from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from bench.engine.devices import is_cuda

PROC_STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """Resident memory of this process now (VmRSS), or None where /proc is absent."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int:
    """High-water mark of resident memory (VmHWM; ru_maxrss where /proc is absent)."""
    kib = _status_kib("VmHWM")
    return (kib if kib is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def reset_peak_rss() -> bool:
    """Restart the high-water mark at the current RSS (Linux >= 4.0); False where refused."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class MemoryTracker:
    """Baseline before the runtime loads; peak above it per measurement (RSS, and CUDA's allocator)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.resettable = reset_peak_rss()
        self.baseline = rss_bytes() or peak_rss_bytes()
        self._cuda_baseline = self._cuda_allocated()

    def _cuda_allocated(self) -> int | None:
        if not is_cuda(self.device):
            return None
        import torch

        return int(torch.cuda.memory_allocated(self.device))

    def start(self) -> None:
        """A new measurement begins: its peak counts from here (the runtime stays resident)."""
        if self.resettable:
            reset_peak_rss()
        if is_cuda(self.device):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)

    def record(self) -> dict[str, Any]:
        """The memory record stored with a measurement (bytes)."""
        out: dict[str, Any] = {
            "rss_peak_above_baseline_bytes": max(0, peak_rss_bytes() - self.baseline),
            "rss_baseline_bytes": self.baseline,
            "rss_peak_scope": "measurement" if self.resettable else "process",
        }
        if is_cuda(self.device):
            import torch

            out["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
            out["cuda_baseline_allocated_bytes"] = self._cuda_baseline
            out["cuda_note"] = "torch's caching allocator only; an ORT CUDA arena is not readable"
        return out
