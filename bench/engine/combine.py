"""One measurement from K worker processes: pooled raw samples, per-process medians, estimate.

times_s pools every process's samples in process order (the raw median_s beside the estimate
is their median, untouched); `processes` keeps each process's median, sample count and
reference reading, so the per-process samples can be cut back out of times_s.
"""
from __future__ import annotations

from dataclasses import replace
import statistics
from typing import Any, Sequence

from bench.engine.estimate import QUIET_HOST, Draw, estimate
from bench.engine.measurement import Measurement
from bench.engine.timing import UNSTABLE_IQR_RATIO, UNSTABLE_PREFIX


def merge_rounds(rounds: Sequence[Measurement]) -> Measurement:
    """One process's rounds (fresh instances of the same call) as one Measurement: samples
    pooled, each round's samples and reference kept in extra["rounds"] for the estimate."""
    if len(rounds) == 1:
        return rounds[0]
    first = rounds[0]
    extra = {k: v for k, v in first.extra.items() if k != "reference"}
    extra["rounds"] = [{"times_s": list(m.times_s), "reference": m.extra.get("reference")}
                       for m in rounds]
    warnings = tuple(dict.fromkeys(w for m in rounds for w in m.warnings))
    return replace(first, times_s=tuple(t for m in rounds for t in m.times_s),
                   warnings=warnings, extra=extra)


def _draw(times_s: Sequence[float], ref: Any) -> Draw:
    """One timed instance: its median, and its interleaved reference where it has one."""
    times = tuple(times_s)
    median = statistics.median(times)
    if not isinstance(ref, dict) or not ref.get("median_s") or not ref.get("ratio"):
        return Draw(median, times_s=times)
    pairs = tuple(w / r for w, r in zip(times, ref.get("times_s") or ()) if r > 0)
    return Draw(median, float(ref["median_s"]), float(ref["ratio"]), pairs, times)


def _round_records(m: Measurement) -> list[dict[str, Any]]:
    """One process's timed instances as {times_s, reference}: its rounds, or the process itself.
    The one place that knows where merge_rounds put them."""
    rounds = m.extra.get("rounds")
    if isinstance(rounds, list) and rounds:
        return rounds
    return [{"times_s": m.times_s, "reference": m.extra.get("reference")}]


def _draws(m: Measurement) -> list[Draw]:
    """A process's draws: one per round (or the process itself)."""
    return [_draw(r["times_s"], r.get("reference")) for r in _round_records(m)]


def combine(runs: Sequence[Measurement]) -> Measurement:
    """Merge one spec's measurements from several processes (a single one gets an estimate too).
    Everything derived (the estimate, the efficiency, the warnings) is computed from the whole
    measurement: every draw of every process."""
    timed = [m for m in runs if not m.skipped and m.times_s]
    if not timed:
        return runs[0]
    first = timed[0]
    failed = [m for m in timed if m.parity is not None and not m.parity.passed]
    parity = failed[0].parity if failed else first.parity
    draws = [_draws(m) for m in timed]
    flat = [d for ds in draws for d in ds]
    kind = _reference(timed).get("kind") if all(d.has_reference for d in flat) else None
    est = estimate(flat, reference=kind, within_samples=first.times_s,
                   outlier_medians=[m.median_s for m in timed])
    est["processes"], est["draws"] = len(timed), len(flat)
    times = tuple(t for m in timed for t in m.times_s)
    warnings = _whole_warnings(timed, times, (est.get("host") or {}).get("host_moved")) + est.pop("warnings")
    extra = {k: v for k, v in first.extra.items() if k not in ("reference", "rounds")}
    extra["processes"] = [_process_record(m, ds) for m, ds in zip(timed, draws)]
    extra["estimate_s"] = est.pop("estimate_s")
    extra["estimate"] = est
    _whole_efficiency(extra)
    return replace(first, times_s=times, parity=parity, warnings=tuple(warnings), extra=extra)


def _whole_efficiency(extra: dict[str, Any]) -> None:
    """bytes_per_s and bandwidth_efficiency of the measurement's estimate_s, not of process 1's
    median (the floor is the one with_efficiency used: process 1's rate / its efficiency)."""
    moved, rate, eff = extra.get("bytes_moved"), extra.get("bytes_per_s"), extra.get("bandwidth_efficiency")
    if not isinstance(moved, (int, float)) or not extra["estimate_s"] > 0:
        return
    extra["bytes_per_s"] = moved / extra["estimate_s"]
    if isinstance(rate, (int, float)) and isinstance(eff, (int, float)) and eff > 0:
        extra["bandwidth_efficiency"] = extra["bytes_per_s"] / (rate / eff)


def _reference(timed: Sequence[Measurement]) -> dict[str, Any]:
    """The first process's (first round's) reference record: its kind and thread count."""
    return _round_records(timed[0])[0].get("reference") or {}


def _process_record(m: Measurement, draws: Sequence[Draw]) -> dict[str, Any]:
    """What results.json keeps of one process: its median, the CPUs its reference blocks ran on
    (each where the workload had just run, bench/engine/affinity.py) and each draw's reading."""
    rounds = _round_records(m)
    return {"median_s": m.median_s, "n_samples": len(m.times_s),
            "cpus": (rounds[0].get("reference") or {}).get("cpus") if rounds else None,
            "draws": [{"median_s": d.median_s, "n_samples": len(d.times_s),
                       "reference_s": d.reference_s, "ratio": d.ratio,
                       "reference_times_s": (r.get("reference") or {}).get("times_s")}
                      for d, r in zip(draws, _round_records(m))]}


def references_of(m: Measurement) -> list[dict[str, Any]]:
    """Every interleaved reference record of one process's measurement (one per round)."""
    return [r["reference"] for r in _round_records(m) if isinstance(r.get("reference"), dict)]


def _whole_warnings(timed: Sequence[Measurement], times: Sequence[float],
                    moved: float | None = None) -> list[str]:
    """The processes' warnings, each once, except the per-instance "unstable" lines: the spread
    that a reader compares with the table is the whole measurement's, so that one is recomputed
    on all the samples (the draws' spread shows in the interval and the outlier warnings). Where
    the companion's fixed reference says how far the host moved meanwhile (`moved`), the line
    names the cause: the host's phases, or, with the host still, not them (the workload's own
    spread, or something shorter than a draw)."""
    rest = [w for m in timed for w in m.warnings if not w.startswith(UNSTABLE_PREFIX)]
    out = list(dict.fromkeys(rest))
    pooled = Measurement(timed[0].spec, tuple(times))
    if pooled.median_s > 0 and pooled.iqr_s / pooled.median_s > UNSTABLE_IQR_RATIO:
        line = (f"{UNSTABLE_PREFIX}{100 * pooled.iqr_s / pooled.median_s:.1f}% of the median"
                f" over all {len(times)} samples (> 10%)")
        if moved is not None:
            line += (f"; the host moved {moved:.2f}x meanwhile (the companion's fixed reference,"
                     " q3/q1 over the draws)" if moved > QUIET_HOST else
                     f"; the host held still across the draws (its fixed reference within"
                     f" {QUIET_HOST - 1:.0%}): not the host's slow phases")
        out.append(line)
    return out
