"""One measurement's two figures: the time this run measured, and the host-normalised ratio.

1. estimate_s, the published time: the FAST STATE of what this run measured. Each draw (a fresh
   instance in a worker process; the draws of all runtimes interleave, bench/engine/schedule.py)
   gives its median; estimate_s is the first quartile of those draw medians. Nothing rescaled. A
   2-vCPU host has slow phases that last seconds: when one covers part of a run, the draw medians
   split in two groups, and their median falls in whichever group is larger (ONNX Runtime at
   batch 1, 18 draws: 9 at 3.7 us and 9 at 5.7-8.6 us gave a median of 4.8 us). The first
   quartile stays in the fast group while a quarter of the draws are in it, and on a quiet host
   it is within a few percent of the median. Its 95% interval is distribution-free: two order
   statistics of the draw medians (the binomial interval of a quantile); with too few draws for
   95%, the lowest and highest draw.
2. host.ratio, for comparing runs: a companion process (bench/engine/companion.py) times a fixed
   reference of the same kind of work in lockstep with the workload's blocks; the median of
   workload/reference block pairs cancels the host's state of the moment but not the measured
   process's own (a thread, an allocator setting: those are part of what is measured).
   It is dimensionless and never shown as a time. `compare` gates on it where both runs have it.

A reference of the wrong kind adds noise of its own and is refused for gating, with the reason
recorded (`host.usable`, `host.tracking`). With fewer than 3 draws the check runs on the block
pairs themselves.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from bench.engine.measurement import percentile
from bench.engine.tdist import t_quantile

TRACKING_GAIN = 0.8          # ratios spread <= 80% of the raw medians' spread: it cancels a phase
ADDED_NOISE = 1.5            # ratios spread > 1.5x the raw medians': refused (two independent
                             # timings of equal noise give sqrt(2) = 1.41x)
SMALL_SPREAD = 0.05          # ratios spread <= 5% (sd or MAD over draws): usable whatever the raw
                             # spread (small_spread below)
OUTLIER_FACTOR = 1.5         # a process 1.5x off the others' median is an outlier
FAST_QUANTILE = 0.25         # estimate_s: the first quartile of the draw medians (the fast state)
QUIET_HOST = 1.10            # the host held still: its fixed reference's q3/q1 over the draws <= 1.10
METHOD = "first quartile of draw medians"
# every method whose estimate_s is a time the run measured (older v3 files: the median)
MEASURED_METHODS = (METHOD, "median of draw medians")


@dataclass(frozen=True)
class Draw:
    """One draw: one fresh instance (a round) in one worker process, or a whole process when it
    timed one round. Its workload median, and (optionally) its reference's median and the median
    of its workload/reference block pairs (`ratio`), with the pairs themselves."""
    median_s: float
    reference_s: float | None = None
    ratio: float | None = None
    pair_ratios: tuple[float, ...] = ()
    times_s: tuple[float, ...] = ()

    @property
    def has_reference(self) -> bool:
        return bool(self.reference_s and self.reference_s > 0 and self.ratio and self.ratio > 0)


@lru_cache(maxsize=None)
def _t975(df: int) -> float:
    """Student's t 0.975 quantile (a table to df 10 and 1.96 beyond was 7.6% short at the 17 df
    of 18 draws: 1.96 for 2.110)."""
    return t_quantile(0.95, df)


def log_interval(values: Sequence[float]) -> tuple[float, float]:
    """95% t interval of the geometric mean of positive `values` (one value: that value twice)."""
    logs = [math.log(v) for v in values]
    if len(logs) < 2:
        return (values[0], values[0])
    centre = statistics.fmean(logs)
    half = _t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return (math.exp(centre - half), math.exp(centre + half))


def log_spread(values: Sequence[float]) -> float:
    """Standard deviation of log(values): the relative spread (0 with fewer than 2 values)."""
    return statistics.stdev(math.log(v) for v in values) if len(values) > 1 else 0.0


def robust_log_spread(values: Sequence[float]) -> float:
    """1.4826 x the median absolute deviation of log(values): log_spread's robust twin (one
    preempted draw among twelve must not decide whether a reference tracks)."""
    if len(values) < 2:
        return 0.0
    logs = [math.log(v) for v in values]
    centre = statistics.median(logs)
    return 1.4826 * statistics.median(abs(x - centre) for x in logs)


def _spreads(processes: Sequence[Draw]) -> tuple[list[float], list[float], str]:
    """(raw values, ratios, over what): the draws (processes x rounds), or one draw's block
    pairs when there are fewer than 3 draws."""
    if len(processes) >= 3:
        return [p.median_s for p in processes], [p.ratio for p in processes], "draws"  # type: ignore[misc]
    times = [t for p in processes for t in p.times_s if t > 0]
    ratios = [r for p in processes for r in p.pair_ratios if r > 0]
    return times, ratios, "block pairs"


def reference_tracks(draws: Sequence[Draw]) -> tuple[bool, str]:
    """(True, why) when the host-normalised ratio may gate, else (False, why).

    The ratio is a different figure from the time, not a correction of it, so the question is
    only whether the reference is of the wrong kind: one that adds noise of its own (a numpy
    copy for dispatch-bound work spread its ratios 1.71x) is refused. The ratios may spread a
    little more than the raw values on a quiet host (two independent timings of equal noise:
    about 1.4x); they are refused when they spread more than ADDED_NOISE x the raw values (a
    reference that doubles the spread is noise, not the host). Whether they cancel a slow phase
    is reported beside it ("tracks")."""
    if not draws or not all(p.has_reference for p in draws):
        return False, "no reference timed in every draw"
    raw, ratios, over = _spreads(draws)
    if len(ratios) < 3:
        return False, f"{len(draws)} draw(s) and too few block pairs to verify the reference"
    sd = (log_spread(ratios), log_spread(raw))
    mad = (robust_log_spread(ratios), robust_log_spread(raw))
    numbers = f"ratio spread {sd[0]:.2%} sd / {mad[0]:.2%} MAD vs raw {sd[1]:.2%} / {mad[1]:.2%} over {over}"
    if sd[0] <= TRACKING_GAIN * sd[1] or mad[0] <= TRACKING_GAIN * mad[1]:
        return True, f"tracks: {numbers}"
    if sd[0] <= ADDED_NOISE * sd[1] or mad[0] <= ADDED_NOISE * mad[1]:
        return True, f"quiet: {numbers}; within the {ADDED_NOISE}x it may add"
    if small_spread(ratios):  # noise of its own, said so, but too little to move a verdict
        return True, f"adds noise: {numbers}; usable: the ratios spread <= {SMALL_SPREAD:.0%}"
    return False, f"adds noise: {numbers}"


def small_spread(ratios: Sequence[float]) -> bool:
    """Whether the ratios over the draws spread at most SMALL_SPREAD (sd or MAD of their logs).

    The relative test above fails exactly when a whole run sits in one host phase: its draws'
    times are then tightly clustered (1.35% sd, all 18 of ONNX Runtime at batch 1 at 6.4-6.8 us
    against 3.7-3.9 us in the next run) while the ratios carry the reference's own few percent
    (3.7%). Refused, the gate fell back to the times and called the slow phase a 1.68x change;
    3 of 9 null pairs of one quiet series failed that way, and none gated on ratios did. A
    reference that spreads its ratios 5% or less cannot by itself move a median of 18 draws
    past a 5% threshold; a wrong kind (1.71x the raw spread) is still refused above it."""
    positive = [r for r in ratios if r and r > 0]
    return len(positive) >= 3 and min(log_spread(positive), robust_log_spread(positive)) <= SMALL_SPREAD


def outlier_processes(medians: Sequence[float], factor: float = OUTLIER_FACTOR) -> list[int]:
    """Indices of processes whose median is `factor`x off the median of the OTHER processes."""
    out = []
    for i, m in enumerate(medians):
        others = [v for j, v in enumerate(medians) if j != i]
        if others:
            centre = statistics.median(others)
            if m > factor * centre or m * factor < centre:
                out.append(i)
    return out


def quantile(values: Sequence[float], p: float) -> float:
    """The p-quantile of `values` (p in [0, 1]), interpolated as numpy does: measurement.percentile."""
    return percentile(sorted(values), 100 * p)


def quantile_interval(values: Sequence[float], p: float, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval of the p-quantile: the order statistics x(l) <= x(u) (1-based)
    with P(l <= B < u) >= level for B ~ Binomial(n, p), the narrowest such pair; the lowest and
    highest value when no pair reaches `level` (few values)."""
    xs = sorted(values)
    n = len(xs)
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    best: tuple[int, int] | None = None
    for lo in range(1, n + 1):
        cover = 0.0
        for up in range(lo + 1, n + 1):
            cover += pmf[up - 1]  # P(B = up - 1): x(lo) <= quantile < x(up)
            if cover >= level:
                if best is None or up - lo < best[1] - best[0]:
                    best = (lo, up)
                break
    if best is None:
        return xs[0], xs[-1]
    return xs[best[0] - 1], xs[best[1] - 1]


def fast_state(medians: Sequence[float]) -> tuple[float, float, float]:
    """(value, low, high) of a measurement from its draw medians (two or more): the first
    quartile and its distribution-free 95% interval. The one definition, for new and old files."""
    value = quantile(medians, FAST_QUANTILE)
    low, high = quantile_interval(medians, FAST_QUANTILE)
    return value, min(low, value), max(high, value)


def estimate(draws: Sequence[Draw], reference: str | None = None,
             within_samples: Sequence[float] = (),
             outlier_medians: Sequence[float] | None = None) -> dict[str, Any]:
    """The `estimate` object of one measurement: {estimate_s, interval_s, method, draw_medians_s,
    host, processes, spread, warnings}. estimate_s is the fast state of what this run measured:
    the first quartile of the draws' medians. `host` is the host-normalised ratio
    (dimensionless, for comparing runs), where a companion reference ran; `outlier_medians` are
    what the outlier warning looks at (default: the draws' medians)."""
    if not draws:
        raise ValueError("estimate needs at least one draw")
    medians = [p.median_s for p in draws]
    if len(medians) > 1:
        value, low, high = fast_state(medians)
    else:
        value = medians[0]
        low, high = _within(within_samples, value)
    watch = list(outlier_medians) if outlier_medians is not None else medians
    warnings = [f"process {i + 1} is an outlier: {watch[i]:.3g} s vs the others' median"
                f" {statistics.median([m for j, m in enumerate(watch) if j != i]):.3g} s"
                for i in outlier_processes(watch)]
    return {"estimate_s": value, "interval_s": [min(low, value), max(high, value)],
            "method": METHOD, "draw_medians_s": medians,
            "host": host_ratio(draws, reference) if reference else None,
            "processes": len(draws), "spread": max(medians) / min(medians), "warnings": warnings}


def host_ratio(draws: Sequence[Draw], reference: str) -> dict[str, Any] | None:
    """The host-normalised ratio: workload time / the companion's reference time, per draw the
    median of its block pairs, then the median over draws. Dimensionless: a figure to compare
    runs of one environment by, never a time."""
    if not all(d.has_reference for d in draws):
        return None
    usable, why = reference_tracks(draws)
    ratios = [d.ratio for d in draws]  # type: ignore[misc]
    spread = ratios if len(ratios) > 1 else list(draws[0].pair_ratios)
    low, high = log_interval(spread) if len(spread) > 1 else (ratios[0], ratios[0])
    value = statistics.median(ratios)  # type: ignore[type-var]
    return {"reference": reference, "ratio": value, "interval": [min(low, value), max(high, value)],
            "draw_ratios": ratios, "usable": usable, "tracking": why,
            "host_moved": host_moved([d.reference_s for d in draws])}  # type: ignore[misc]


def draw_reference_times(draws_s: Sequence[float], ratios: Sequence[float]) -> list[float] | None:
    """Each draw's reference time as a results file keeps it: the draw's median over its host
    ratio (the ratio is the median of block-pair ratios, so this is the reference's time to
    within its spread); None unless every draw has a positive ratio."""
    if not draws_s or len(ratios) != len(draws_s) or not all(r and r > 0 for r in ratios):
        return None
    return [d / r for d, r in zip(draws_s, ratios)]


def host_moved(reference_s: Sequence[float]) -> float | None:
    """How far the host moved during one measurement: the third over the first quartile of its
    companion reference's time across the draws. The reference is fixed code in a clean process,
    so what moves it is the host, not the workload. Within QUIET_HOST the host held still, and
    the fast state was then within 10% of the raw median (24 of 24 measurements of the Intel
    reference run, 2 of 3 on the AMD VM: results/winners). None under 4 draws."""
    good = [r for r in reference_s if r and r > 0]
    if len(good) < 4 or len(good) != len(reference_s):
        return None
    return quantile(good, 0.75) / quantile(good, 0.25)


def _within(samples: Sequence[float], value: float) -> tuple[float, float]:
    """One process: the interval of its own samples (optimistic: no across-process spread)."""
    good = [s for s in samples if s > 0]
    return log_interval(good) if len(good) > 1 else (value, value)
