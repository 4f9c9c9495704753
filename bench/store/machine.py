"""What makes two machines different when their CPU model string is the same.

A cloud VM's cpu_model reads "Intel(R) Xeon(R) Processor" on hosts of different generations,
so the fingerprint adds what the CPU can actually run and what it has:
  - cpu_isa: the SIMD level torch dispatches to (torch.backends.cpu.get_cpu_capability());
  - cpu_flags_sha256 (compared) and cpu_flags (kept for reading), from py-cpuinfo;
  - cpu_caches: L1d/L2/L3 sizes in bytes, from py-cpuinfo (None where it cannot tell);
  - kernel: platform.release();
  - loadavg_1m: {start, end} of the run, recorded, not compared: it is the host's load, the
    first thing to read when a number looks off (the 2-vCPU VMs here are shared).
The stable machine id is bench/store/identity.py's machine_id().
"""
from __future__ import annotations

import hashlib
import os
import platform
from typing import Any


def load_average_1m() -> float | None:
    """The 1-minute load average now, or None where the OS has none."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def _cpuinfo() -> dict[str, Any]:
    try:
        import cpuinfo  # py-cpuinfo, installed with pytest-benchmark

        return dict(cpuinfo.get_cpu_info())
    except Exception:  # noqa: BLE001 - an unreadable /proc must not sink a run: fields become None
        return {}


def machine_details(load_start: float | None = None) -> dict[str, Any]:
    """{cpu_isa, cpu_flags, cpu_flags_sha256, cpu_caches, kernel, loadavg_1m {start, end}}."""
    import torch

    info = _cpuinfo()
    flags = sorted(str(f) for f in info.get("flags", []))
    return {
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": flags,
        "cpu_flags_sha256": hashlib.sha256(" ".join(flags).encode()).hexdigest() if flags else None,
        "cpu_caches": {"l1d": info.get("l1_data_cache_size"), "l2": info.get("l2_cache_size"),
                       "l3": info.get("l3_cache_size")},
        "kernel": platform.release(),
        "loadavg_1m": {"start": load_start, "end": load_average_1m()},
    }
