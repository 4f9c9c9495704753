"""One measurement from K worker processes: pooled raw samples, per-process medians, estimate.

times_s pools every process's samples in process order (the raw median_s beside the estimate
is their median, untouched); `processes` keeps each process's median, sample count and
reference reading, so the per-process samples can be cut back out of times_s.
"""
from __future__ import annotations

from dataclasses import replace
import statistics
from typing import Any, Iterable, Mapping, Sequence

from bench.engine.estimate import Draw, estimate
from bench.engine.reference import scale_key
from bench.engine.measurement import Measurement
from bench.engine.timing import UNSTABLE_PREFIX


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


def combine(runs: Sequence[Measurement],
            scales: Mapping[str, Mapping[str, Any]] | None = None) -> Measurement:
    """Merge one spec's measurements from several processes (a single one gets an estimate too).
    `scales`: per reference kind {scale_s, run_scale_s, source} (bench.suite._scales)."""
    timed = [m for m in runs if not m.skipped and m.times_s]
    if not timed:
        return runs[0]
    first = timed[0]
    failed = [m for m in timed if m.parity is not None and not m.parity.passed]
    parity = failed[0].parity if failed else first.parity
    draws = [_draws(m) for m in timed]
    flat = [d for ds in draws for d in ds]
    ref = _reference(timed) if all(d.has_reference for d in flat) else {}
    kind = ref.get("kind")
    scale = dict((scales or {}).get(scale_key(ref)) or {}) if kind else {}
    est = estimate(flat, reference=kind, within_samples=first.times_s, scale_s=scale.get("scale_s"),
                   outlier_medians=[m.median_s for m in timed])
    if est["method"] == "reference-ratio" and scale:
        est["run_scale_s"], est["scale_source"] = scale.get("run_scale_s"), scale.get("source")
    est["processes"], est["draws"] = len(timed), len(flat)
    warnings = _summarised(w for m in timed for w in m.warnings) + est.pop("warnings")
    extra = {k: v for k, v in first.extra.items() if k not in ("reference", "rounds")}
    extra["processes"] = [_process_record(m, ds) for m, ds in zip(timed, draws)]
    extra["estimate_s"] = est.pop("estimate_s")
    extra["estimate"] = est
    times = tuple(t for m in timed for t in m.times_s)
    return replace(first, times_s=times, parity=parity, warnings=tuple(warnings), extra=extra)


def _reference(timed: Sequence[Measurement]) -> dict[str, Any]:
    """The first process's (first round's) reference record: its kind and thread count."""
    return _round_records(timed[0])[0].get("reference") or {}


def _process_record(m: Measurement, draws: Sequence[Draw]) -> dict[str, Any]:
    """What results.json keeps of one process: its median and each draw's reference reading."""
    return {"median_s": m.median_s, "n_samples": len(m.times_s),
            "draws": [{"median_s": d.median_s, "n_samples": len(d.times_s),
                       "reference_s": d.reference_s, "ratio": d.ratio,
                       "reference_times_s": (r.get("reference") or {}).get("times_s")}
                      for d, r in zip(draws, _round_records(m))]}


def references_of(m: Measurement) -> list[dict[str, Any]]:
    """Every interleaved reference record of one process's measurement (one per round)."""
    return [r["reference"] for r in _round_records(m) if isinstance(r.get("reference"), dict)]


def _summarised(warnings: Iterable[str]) -> list[str]:
    """The processes' and rounds' warnings, each once; their per-draw "unstable: IQR is X%"
    lines become one line saying in how many draws and how large (a 12-draw measurement would
    otherwise list up to 12 near-identical lines)."""
    unstable = [w for w in warnings if w.startswith(UNSTABLE_PREFIX)]
    rest = [w for w in warnings if not w.startswith(UNSTABLE_PREFIX)]
    out = list(dict.fromkeys(rest))
    if unstable:
        worst = max(unstable, key=lambda w: float(w[len(UNSTABLE_PREFIX):].split("%")[0] or 0))
        out.append(worst if len(unstable) == 1 else
                   f"{worst} (the largest of {len(unstable)} timed instances over 10%)")
    return out
