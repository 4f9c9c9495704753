"""Per-request latency: single calls timed one by one, their percentiles, and how far to trust them.

The block timer (bench.timing) averages hundreds of calls into each sample, which is right for a
median and wrong for a tail: one 4 ms stall among 800 calls of 6 us vanishes into the average. So
every inference measurement also times single calls, one clock pair per call (MLPerf LoadGen,
onnxruntime_perf_test and perf_analyzer report the same kind of number). Each reading includes one
clock call (~50 ns here) and, on a GPU, one sync: that overhead is measured on an empty call with
the same harness and stated next to the percentiles, never subtracted.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from bench.engine.measurement import Measurement, percentile
from bench.engine.timing import NO_WARMUP, Clock, TimingConfig, time_each_call

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))
TAIL_CALLS = 10  # a percentile means something when >= 10 calls lie beyond it
# Probabilities at which the distribution is kept (for CDF pictures): dense in the body, then the tail.
CDF_PROBS = tuple([i / 20 for i in range(1, 20)] + [0.96, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9999])


@dataclass(frozen=True)
class LatencyConfig:
    max_calls: int = 20_000   # 10 calls beyond the p99.9 need 10,000; twice that for margin
    max_s: float = 1.0        # ...but never more than this long per measurement (big batches)
    min_calls: int = 30       # even a slow call gets this many (unless 4x max_s runs out)
    overhead_calls: int = 2_000  # empty calls that measure the clock's (and sync's) overhead

    def __post_init__(self) -> None:
        for name in ("max_calls", "min_calls", "overhead_calls"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.max_s > 0 and math.isfinite(self.max_s)):
            raise ValueError(f"max_s must be a positive number, got {self.max_s}")


def time_single_calls(fn: Callable[[], Any], config: LatencyConfig = LatencyConfig(),
                      sync: Callable[[], None] | None = None, clock: Clock = time.perf_counter) -> list[float]:
    """Seconds of each of up to max_calls calls (at most max_s), timed by the engine's per-call timer."""
    return list(time_each_call(fn, config.max_calls, NO_WARMUP, sync=sync, budget_s=config.max_s,
                               min_calls=config.min_calls, clock=clock).times_s)


def clock_overhead_s(config: LatencyConfig = LatencyConfig(),
                     sync: Callable[[], None] | None = None, clock: Clock = time.perf_counter) -> float:
    """Median seconds the harness itself adds to one reading: an empty call timed the same way."""
    empty = LatencyConfig(max_calls=config.overhead_calls, max_s=config.max_s, min_calls=1)
    return statistics.median(time_single_calls(lambda: None, empty, sync, clock))


def summarize(times_s: list[float] | tuple[float, ...]) -> dict[str, float | int]:
    """{"p50", "p90", "p99", "p999", "max", "n"} of per-call seconds (numpy's linear percentiles)."""
    s = sorted(times_s)
    out: dict[str, float | int] = {name: percentile(s, q) for name, q in PERCENTILES}
    out["max"] = s[-1] if s else math.nan
    out["n"] = len(s)
    return out


def calls_needed(q: float) -> int:
    """Calls for TAIL_CALLS of them to lie beyond percentile q: 1,000 for p99, 10,000 for p99.9."""
    return math.ceil(round(TAIL_CALLS / (1.0 - q / 100.0), 6))  # round: 1 - 0.999 is not exact


def unreliable_percentiles(n: int) -> list[str]:
    """The percentile names that `n` calls cannot support (fewer than TAIL_CALLS beyond them)."""
    return [name for name, q in PERCENTILES if n < calls_needed(q)]


def reliability_warnings(n: int) -> list[str]:
    """One warning naming the percentiles that too few calls make unreliable, or none."""
    weak = unreliable_percentiles(n)
    if not weak:
        return []
    worst = max(q for name, q in PERCENTILES if name in weak)
    return [f"latency {', '.join(weak)} unreliable: {n} single calls, "
            f"{calls_needed(worst)} needed for {TAIL_CALLS} beyond p{worst:g}"]


def cdf_points(times_s: list[float] | tuple[float, ...]) -> dict[str, list[float]]:
    """The distribution at CDF_PROBS (for pictures): {"q": probabilities, "s": seconds}.

    Only the probabilities that the calls reach (at least one call beyond them); the max closes
    the curve at q = 1 - 1/n, so a short run never draws an interpolated tail it did not see.
    """
    s = sorted(times_s)
    if not s:
        return {"q": [], "s": []}
    qs = [q for q in CDF_PROBS if len(s) * (1.0 - q) >= 1.0]
    return {"q": qs + [1.0 - 1.0 / len(s)], "s": [percentile(s, 100.0 * q) for q in qs] + [s[-1]]}


def measure_latency(fn: Callable[[], Any], config: LatencyConfig = LatencyConfig(),
                    sync: Callable[[], None] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Single calls of fn, summarized: (the fields an inference measurement stores, its warnings)."""
    overhead = clock_overhead_s(config, sync)
    times = time_single_calls(fn, config, sync)
    summary: dict[str, Any] = dict(summarize(times))
    summary["clock_overhead_s"] = overhead
    fields = {"latency_s": summary, "latency_cdf_s": cdf_points(times),
              "latency_unreliable": unreliable_percentiles(len(times))}
    return fields, reliability_warnings(len(times))


def with_latency(m: Measurement, fn: Callable[[], Any], sync: Callable[[], None] | None,
                 timing: TimingConfig) -> Measurement:
    """`m` with per-request latency of `fn` added (fields in extra, reliability in warnings)."""
    config = LatencyConfig(max_calls=timing.latency_calls, max_s=timing.latency_max_s,
                           min_calls=min(LatencyConfig.min_calls, timing.latency_calls),
                           overhead_calls=min(LatencyConfig.overhead_calls, timing.latency_calls))
    fields, warnings = measure_latency(fn, config, sync)
    return replace(m, extra={**m.extra, **fields}, warnings=m.warnings + tuple(warnings))
