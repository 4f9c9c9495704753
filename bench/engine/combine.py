"""One measurement from K worker processes: pooled raw samples, per-process medians, estimate.

times_s pools every process's samples in process order (the raw median_s beside the estimate
is their median, untouched); `processes` keeps each process's median, sample count and
reference reading, so the per-process samples can be cut back out of times_s.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from bench.engine.estimate import ProcessSample, estimate
from bench.engine.measurement import Measurement


def _reference_s(m: Measurement) -> float | None:
    ref = m.extra.get("reference")
    return float(ref["median_s"]) if isinstance(ref, dict) and ref.get("median_s") else None


def combine(runs: Sequence[Measurement]) -> Measurement:
    """Merge one spec's measurements from several processes (a single one gets an estimate too)."""
    timed = [m for m in runs if not m.skipped and m.times_s]
    if not timed:
        return runs[0]
    first = timed[0]
    failed = [m for m in timed if m.parity is not None and not m.parity.passed]
    parity = failed[0].parity if failed else first.parity
    refs = [_reference_s(m) for m in timed]
    kind = first.extra.get("reference", {}).get("kind") if all(refs) else None
    est = estimate([ProcessSample(m.median_s, r) for m, r in zip(timed, refs)],
                   reference=kind, within_samples=first.times_s)
    warnings = list(dict.fromkeys(w for m in timed for w in m.warnings))
    warnings += est.pop("warnings")
    extra = {k: v for k, v in first.extra.items() if k != "reference"}
    extra["processes"] = [{"median_s": m.median_s, "n_samples": len(m.times_s),
                           "reference_s": r} for m, r in zip(timed, refs)]
    extra["estimate_s"] = est.pop("estimate_s")
    extra["estimate"] = est
    times = tuple(t for m in timed for t in m.times_s)
    return replace(first, times_s=times, parity=parity, warnings=tuple(warnings), extra=extra)
