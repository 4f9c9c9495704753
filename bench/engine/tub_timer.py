"""A block timer built on torch.utils.benchmark.Timer (training epochs use it).

Kept apart from bench/engine/timing.py: importing torch.utils.benchmark touches torch.jit, and
only the training measurements need it.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from bench.engine.timing import BlockTimer


def torch_timer(fn: Callable[[], Any], threads: int,
                sync: Callable[[], None] | None = None) -> BlockTimer:
    """A block timer built on torch.utils.benchmark.Timer with an explicit thread count.

    TUB's Timer defaults to ONE thread, which would silently measure something else than the
    rest of the run: num_threads is passed explicitly. A block is Timer._timeit(n): exactly n
    timed calls, GC off (timeit's own rule, which is GC_POLICY). (Timer.timeit(n) first runs max(n // 100, 2) hidden warmup calls inside the
    block, which the fault count and the max_total_s budget would not account for.)
    """
    import warnings

    with warnings.catch_warnings():  # importing TUB touches torch.jit: a DeprecationWarning in 2.13
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from torch.utils import benchmark
        from torch.utils.benchmark.utils.common import set_torch_threads

    def stopwatch() -> float:
        if sync is not None:
            sync()
        return time.perf_counter()

    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads, timer=stopwatch)

    def run(n: int) -> float:
        with set_torch_threads(threads):  # what Timer.timeit does, minus its hidden warmup calls
            return float(timer._timeit(n))

    return run
