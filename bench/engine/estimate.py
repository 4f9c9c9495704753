"""The stable estimate of one measurement: estimate_s, its interval, and how it was made.

Raw medians of a 2-vCPU VM move 1.3-2.3x between separate runs: the host has slow phases that
last seconds and hit every process alike, so a process that is slow from start to end looks
stable from inside. Two defences, combined:

1. several worker processes per measurement, interleaved with the other runtimes
   (bench/engine/schedule.py): the spread across processes is visible and gives the interval;
2. a reference workload of the same kind, timed in the block right after every workload block
   (bench/engine/reference.py): each process's ratio is the median of workload/reference block
   pairs, which cancels the host's state. estimate_s = median over processes of that ratio x the
   run's scale for the reference (p10 of ALL the run's reference blocks of that kind: the host's
   fast state as this run saw it), so it keeps the unit of seconds.

A reference is used only where it verifiably does no harm: the draws' ratios must spread less
than the draws' raw medians (by TRACKING_GAIN, in standard deviation or in MAD of logs: it
cancels a slow phase seen in this run), or, where the host was quiet, stay within QUIET_SPREAD.
A reference of the wrong kind (a numpy copy for dispatch-bound work) adds its own noise and is
refused, with the reason recorded; estimate_s is then the median of the draws' medians
("process-median"). With fewer than 3 draws the same test runs on the block pairs themselves.

The interval is 95% over processes: a t interval on log values (times are ratio-scale), so it
is asymmetric in seconds. With one process there is no across-process spread, and the interval
comes from the within-process samples (it is then optimistic, and says so: `processes: 1`).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Sequence

TRACKING_GAIN = 0.8          # ratios must spread <= 80% of the raw medians' spread (log scale)...
QUIET_SPREAD = 0.05          # ...or within 5% (a quiet host: little to cancel, little added; the
                             # median over 12 draws then moves ~1.5%). A reference with noise of
                             # its own is far above it (a numpy copy for a multiply-add: 1.71x)
OUTLIER_FACTOR = 1.5         # a process 1.5x off the others' median is an outlier
# Student's t, 0.975 quantile, by degrees of freedom (1..10); beyond that 1.96 is within 5%
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


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


def _t975(df: int) -> float:
    return T975[df - 1] if df <= len(T975) else 1.96


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


def reference_tracks(processes: Sequence[Draw]) -> tuple[bool, str]:
    """(True, why) when the reference may stand in for the host's state, else (False, why).

    It cancels when the ratios spread at most TRACKING_GAIN x the raw values, by standard
    deviation (one 2.5x slow draw among three) or by MAD (one preempted draw among twelve);
    it is harmless when the ratios' spread stays within QUIET_SPREAD. A reference with noise of
    its own (a numpy copy for dispatch-bound work) spreads its ratios MORE: refused."""
    if not processes or not all(p.has_reference for p in processes):
        return False, "no reference timed in every process"
    raw, ratios, over = _spreads(processes)
    if len(ratios) < 3:
        return False, f"{len(processes)} draw(s) and too few block pairs to verify tracking"
    sd = (log_spread(ratios), log_spread(raw))
    mad = (robust_log_spread(ratios), robust_log_spread(raw))
    numbers = f"ratio spread {sd[0]:.2%} sd / {mad[0]:.2%} MAD vs raw {sd[1]:.2%} / {mad[1]:.2%} over {over}"
    if sd[0] <= TRACKING_GAIN * sd[1] or mad[0] <= TRACKING_GAIN * mad[1]:
        return True, f"tracks: {numbers}"
    if min(mad[0], sd[0]) <= QUIET_SPREAD:
        return True, f"quiet: {numbers}; within the {QUIET_SPREAD:.0%} it may add"
    return False, f"does not track: {numbers}"


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


def estimate(processes: Sequence[Draw], reference: str | None = None,
             within_samples: Sequence[float] = (), scale_s: float | None = None,
             outlier_medians: Sequence[float] | None = None) -> dict[str, Any]:
    """The `estimate` object of one measurement: {estimate_s, interval_s, method, reference,
    tracking, scale_s, processes, spread, warnings}. `reference` names the reference workload;
    `scale_s` is the run's fast-state reference time (default: the fastest process's);
    `outlier_medians` are what the outlier warning looks at (default: the processes' medians)."""
    if not processes:
        raise ValueError("estimate needs at least one process")
    medians = [p.median_s for p in processes]
    tracks, why = reference_tracks(processes) if reference else (False, "no reference")
    scale = None
    if tracks:
        ratios = [p.ratio for p in processes]  # type: ignore[misc]
        scale = scale_s or min(p.reference_s for p in processes)  # type: ignore[type-var]
        value = statistics.median(ratios) * scale  # type: ignore[type-var]
        spread = ratios if len(ratios) > 1 else list(processes[0].pair_ratios)
        low, high = (v * scale for v in log_interval(spread))  # type: ignore[arg-type]
        method = "reference-ratio"
    else:
        value = statistics.median(medians)
        low, high = log_interval(medians) if len(medians) > 1 else _within(within_samples, value)
        method = "process-median"
    watch = list(outlier_medians) if outlier_medians is not None else medians
    warnings = [f"process {i + 1} is an outlier: {watch[i]:.3g} s vs the others' median"
                f" {statistics.median([m for j, m in enumerate(watch) if j != i]):.3g} s"
                for i in outlier_processes(watch)]
    return {"estimate_s": value, "interval_s": [min(low, value), max(high, value)],
            "method": method, "reference": reference if tracks else None, "tracking": why,
            "scale_s": scale, "processes": len(processes), "spread": max(medians) / min(medians),
            "warnings": warnings}


def _within(samples: Sequence[float], value: float) -> tuple[float, float]:
    """One process: the interval of its own samples (optimistic: no across-process spread)."""
    good = [s for s in samples if s > 0]
    return log_interval(good) if len(good) > 1 else (value, value)
