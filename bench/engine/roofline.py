"""The roofline: the machine's memory bandwidth as the BEST of several streaming kernels.

A single copy is not a floor: it pays read-for-ownership traffic (the destination's lines are
read before they are written) that a streaming kernel may not pay, and torch.compile's
generated loop beat it by 1.5x in the reference run. So the roofline is the best bytes/s of:
  - read: a read-only reduction (sum), n x 4 bytes read;
  - copy: n x 4 read + n x 4 written;
  - triad: a = b + s * c, 2 n x 4 read + n x 4 written (torch: one fused add with alpha;
    numpy: two passes with a temporary, counted at the minimal traffic, so it can only lose);
each with numpy and with torch, at the run's thread count (numpy's element-wise loops are
single-threaded; torch uses `threads`). Bytes are the minimal traffic each kernel must move.

No efficiency may exceed 1.0 against this roofline. If one does, the roofline is wrong (a
kernel that streams better than all of these exists), and the report says so as an error of
the floor, not as a cache effect.
"""
from __future__ import annotations

from typing import Any, Callable

from bench.engine.measurement import Spec
from bench.engine.timing import TimingConfig, measure

ROOFLINE_BYTES = 400_000_000   # per array set: well past any L3 here, so DRAM, not cache
KERNEL_BYTES_PER_ELEMENT = {"read": 4, "copy": 8, "triad": 12}  # float32, minimal traffic


def best_kernel(bandwidths: dict[str, float]) -> tuple[str, float]:
    """(name, bytes/s) of the fastest kernel in {name: bytes/s}; ValueError when none is > 0."""
    good = {k: v for k, v in bandwidths.items() if v > 0}
    if not good:
        raise ValueError("no kernel measured a positive bandwidth")
    name = max(good, key=good.__getitem__)
    return name, good[name]


def over_roofline(efficiencies: dict[str, float], limit: float = 1.0) -> list[str]:
    """The error lines for efficiencies above the roofline (each one proves the floor wrong)."""
    return [f"error of the floor: {key} runs at {eff:.0%} of the roofline; a kernel streams"
            f" faster than read/copy/triad did, so the roofline under-measures this machine"
            for key, eff in sorted(efficiencies.items()) if eff > limit]


def _kernels(n: int) -> dict[str, tuple[Callable[[], Any], int]]:
    """{name: (call, bytes moved per call)} for the six streaming kernels over n float32."""
    import numpy as np
    import torch

    na, nb, nc = (np.ones(n, dtype=np.float32) for _ in range(3))
    ta, tb, tc = (torch.ones(n, dtype=torch.float32) for _ in range(3))
    per = KERNEL_BYTES_PER_ELEMENT

    def np_triad() -> None:
        np.multiply(nc, 3.0, out=na)
        np.add(na, nb, out=na)

    return {
        "numpy_read": (lambda: na.sum(), per["read"] * n),
        "numpy_copy": (lambda: np.copyto(na, nb), per["copy"] * n),
        "numpy_triad": (np_triad, per["triad"] * n),
        "torch_read": (lambda: ta.sum(), per["read"] * n),
        "torch_copy": (lambda: ta.copy_(tb), per["copy"] * n),
        "torch_triad": (lambda: torch.add(tb, tc, alpha=3.0, out=ta), per["triad"] * n),
    }


def _rates(n: int, config: TimingConfig) -> dict[str, float]:
    """{kernel: bytes/s} of the six kernels over arrays of n float32."""
    return {name: moved / measure(call, Spec("inference", name, "cpu", n), config).median_s
            for name, (call, moved) in _kernels(n).items()}


def measure_roofline(threads: int, config: TimingConfig = TimingConfig(),
                     total_bytes: int = ROOFLINE_BYTES) -> dict[str, Any]:
    """{roofline_bytes_per_s, roofline_kernel, roofline_kernels {name: bytes/s}, roofline_threads}."""
    import torch

    torch.set_num_threads(threads)
    n = max(1, total_bytes // 4 // 3)  # three arrays share the budget
    rates = _rates(n, config)
    kernel, best = best_kernel(rates)
    return {"roofline_bytes_per_s": best, "roofline_kernel": kernel,
            "roofline_kernels": rates, "roofline_threads": threads}


def roofline_by_size(threads: int, config: TimingConfig, sizes: list[int] | tuple[int, ...]) -> dict[str, float]:
    """{str(n): bytes/s}: the best of the six kernels over arrays of n elements, for each size n
    the run measures. A call whose working set fits a cache streams faster than DRAM allows
    (eager at 10^5 rows ran at 107% of the DRAM roofline here): its floor is the same kernels at
    its own size, so no efficiency exceeds 100% because of a cache."""
    import torch

    torch.set_num_threads(threads)
    return {str(n): best_kernel(_rates(n, config))[1] for n in sorted(set(sizes))}
