"""The stable estimate of one measurement: estimate_s, its interval, and how it was made.

Raw medians of a 2-vCPU VM move 1.3-2.3x between separate runs: the host has slow phases that
last seconds and hit every process alike, so a process that is slow from start to end looks
stable from inside. Two defences, combined:

1. several worker processes per measurement, interleaved with the other runtimes
   (bench/engine/schedule.py): the spread across processes is visible and gives the interval;
2. a reference workload of the same kind, timed in alternating blocks in the same process:
   the workload divided by it cancels the host's state. estimate_s = median over processes of
   (workload median / reference median) x the reference's fastest process median (the host's
   fast state seen in this run), so it keeps the unit of seconds.

A reference is used only where it TRACKS: the per-process ratios must spread less than the
raw per-process medians (by TRACKING_GAIN) -- a reference of the wrong kind (a numpy copy for
dispatch-bound work) adds its own noise and is refused, with the reason recorded. Otherwise
estimate_s is the median of the process medians ("process-median").

The interval is 95% over processes: a t interval on log values (times are ratio-scale), so it
is asymmetric in seconds. With one process there is no across-process spread, and the interval
comes from the within-process samples (it is then optimistic, and says so: `processes: 1`).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Sequence

TRACKING_GAIN = 0.8          # ratios must spread <= 80% of the raw medians' spread (log scale)
OUTLIER_FACTOR = 1.5         # a process 1.5x off the others' median is an outlier
MIN_SPREAD = 0.005           # below 0.5% spread there is nothing to cancel: take the raw medians
# Student's t, 0.975 quantile, by degrees of freedom (1..10); beyond that 1.96 is within 5%
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


@dataclass(frozen=True)
class ProcessSample:
    """One worker process's medians: the workload's and (optionally) its reference's."""
    median_s: float
    reference_s: float | None = None


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


def reference_tracks(processes: Sequence[ProcessSample]) -> tuple[bool, str]:
    """(True, why) when the reference cancels the host's state for this workload, else (False, why)."""
    if len(processes) < 3:
        return False, f"{len(processes)} processes: too few to verify tracking (>= 3)"
    if any(p.reference_s is None or p.reference_s <= 0 for p in processes):
        return False, "no reference timed in every process"
    raw = log_spread([p.median_s for p in processes])
    ratio = log_spread([p.median_s / p.reference_s for p in processes])  # type: ignore[operator]
    if raw < MIN_SPREAD:
        return False, f"raw spread {raw:.2%} leaves nothing to cancel"
    if ratio > TRACKING_GAIN * raw:
        return False, f"does not track: ratio spread {ratio:.2%} vs raw {raw:.2%}"
    return True, f"tracks: ratio spread {ratio:.2%} vs raw {raw:.2%}"


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


def estimate(processes: Sequence[ProcessSample], reference: str | None = None,
             within_samples: Sequence[float] = ()) -> dict[str, Any]:
    """The `estimate` object of one measurement: {estimate_s, interval_s, method, reference,
    tracking, processes, spread, warnings}. `reference` names the reference workload, if any."""
    if not processes:
        raise ValueError("estimate needs at least one process")
    medians = [p.median_s for p in processes]
    tracks, why = reference_tracks(processes) if reference else (False, "no reference")
    if tracks:
        ratios = [p.median_s / p.reference_s for p in processes]  # type: ignore[operator]
        scale = min(p.reference_s for p in processes)  # type: ignore[type-var]
        value = statistics.median(ratios) * scale
        low, high = (v * scale for v in log_interval(ratios))
        method = "reference-ratio"
    else:
        value = statistics.median(medians)
        low, high = log_interval(medians) if len(medians) > 1 else _within(within_samples, value)
        method = "process-median"
    warnings = [f"process {i + 1} is an outlier: {medians[i]:.3g} s vs the others' median"
                f" {statistics.median([m for j, m in enumerate(medians) if j != i]):.3g} s"
                for i in outlier_processes(medians)]
    return {"estimate_s": value, "interval_s": [min(low, value), max(high, value)],
            "method": method, "reference": reference if tracks else None, "tracking": why,
            "processes": len(processes), "spread": max(medians) / min(medians),
            "warnings": warnings}


def _within(samples: Sequence[float], value: float) -> tuple[float, float]:
    """One process: the interval of its own samples (optimistic: no across-process spread)."""
    good = [s for s in samples if s > 0]
    return log_interval(good) if len(good) > 1 else (value, value)
