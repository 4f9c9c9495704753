"""Reference workloads timed in the same worker, right after each measurement.

The host's slow phases last seconds to tens of seconds and hit dispatch-bound work (many tiny
torch calls) much harder than memory-bound work. A reference of the SAME kind, timed in the same
process at nearly the same moment, sees the same state; the workload divided by it cancels the
state (bench/engine/estimate.py, which uses it only where it verifiably tracks).
  - dispatch: 20 torch.add calls on 1-element tensors (the interpreter + dispatcher path that
    a small batch or a small training epoch spends its time in);
  - stream: one torch.add over 10^6 float32 (memory-bound, like a large batch).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from bench.engine.measurement import Measurement, Spec
from bench.engine.timing import TimingConfig, measure

STREAM_FROM = 100_000      # batches / training sizes from here on are memory-bound here
REFERENCE_TOTAL_S = 0.1    # timed work per reference reading: a tenth of a second


def reference_kind(spec: Spec) -> str:
    """The reference of the same kind of work as `spec`."""
    return "stream" if spec.batch_size >= STREAM_FROM else "dispatch"


def _workload(kind: str) -> Callable[[], Any]:
    import torch

    if kind == "dispatch":
        a, b = torch.ones(1), torch.ones(1)

        def dispatch() -> None:
            for _ in range(20):
                torch.add(a, b)
        return dispatch
    x, y = torch.ones(1_000_000), torch.ones(1_000_000)
    out = torch.empty_like(x)
    return lambda: torch.add(x, y, out=out)


def measure_reference(kind: str, timing: TimingConfig) -> float:
    """Median seconds per call of the `kind` reference, with a short version of `timing`."""
    short = replace(timing, min_total_s=min(timing.min_total_s, REFERENCE_TOTAL_S),
                    warmup_s=min(timing.warmup_s, 0.02), max_total_s=1.0)
    return measure(_workload(kind), Spec("inference", f"reference-{kind}", "cpu", 1), short).median_s


def with_reference(m: Measurement, timing: TimingConfig) -> Measurement:
    """`m` with extra.reference {kind, median_s}: CPU timed results only (CUDA work is not
    dispatch-bound on the host in the same way; it keeps its raw medians)."""
    if m.skipped or not m.times_s or m.spec.device != "cpu":
        return m
    kind = reference_kind(m.spec)
    extra = {**m.extra, "reference": {"kind": kind, "median_s": measure_reference(kind, timing)}}
    return replace(m, extra=extra)
