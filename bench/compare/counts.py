"""The instruction-count gate: `compare --metric instructions` (bench --metric instructions files).

Counts under Callgrind do not depend on the host's state, so the verdict is a plain threshold on
the ratio of the repeats' medians, NEW/BASE. There is no Mann-Whitney test here: each side has 2
repeats, and with 2 values per side the smallest two-sided p U can give is 1/3, so no alpha is
ever reachable; the repeats are not samples of a noise to test against anyway, they are a check
that the count is deterministic. Their range is shown beside the ratio instead.

Wall time is reported in the same row (the BASE/NEW median columns and the note), never mixed
into the verdict: an interpreter-for-C swap can cut the time 5x and barely move the count.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import ClassVar

from bench.compare.gate import FAILING_VERDICTS, GateSpecError, Verdict
from bench.compare.significance import RatioStats
from bench.compare.files import BenchFile
from bench.store.counts import Counts
from linreg.errors import LinregError

# Chosen from the spread measured here (results/instructions/README.md): over 5 separate runs
# every target's count had max/min <= 1.0012, and two repeats in one process agree to 0.03-0.3%
# (fused: 0.75%); 1% is ~8x the runs' spread, and still catches the +2% (read: 1.020x) that a
# wall-time gate at 5% cannot; 10 of 10 null pairs passed.
DEFAULT_INSTRUCTION_FAIL_ON = "median:1%"
FIGURE = "instructions per call"
METRICS = ("time", "instructions")


@dataclass(frozen=True)
class InstructionGate:
    threshold: float = 0.01   # relative change of instructions per call that matters (0.01 = 1%)
    metric: ClassVar[str] = "instructions"
    alpha: ClassVar[float] = math.nan  # no significance test (see the module docstring)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and 0.0 <= self.threshold < 10.0):
            raise GateSpecError(f"threshold must be in [0%, 1000%), got {self.threshold:.0%}")

    @classmethod
    def parse(cls, spec: str) -> "InstructionGate":
        match = re.fullmatch(r"\s*median\s*:\s*([0-9]*\.?[0-9]+)\s*%\s*", spec or "", re.IGNORECASE)
        if match is None:
            raise GateSpecError(f"bad --fail-on {spec!r} (expected e.g. {DEFAULT_INSTRUCTION_FAIL_ON})")
        return cls(threshold=float(match.group(1)) / 100.0)

    @property
    def label(self) -> str:
        return f"instructions median:{self.threshold * 100:g}% (threshold on the repeats' medians)"

    def verdict(self, stats: RatioStats) -> Verdict:
        if stats.ratio > 1.0 + self.threshold:
            return Verdict.SLOWER
        if stats.ratio < 1.0 / (1.0 + self.threshold):
            return Verdict.FASTER
        return Verdict.UNCHANGED

    def is_blocking(self, verdict: str, stats: RatioStats | None) -> bool:
        return verdict in FAILING_VERDICTS


def count_stats(base: Counts, new: Counts) -> RatioStats:
    """Ratio of the repeats' medians; its "interval" is the repeats' range (min/max each way)."""
    b, n = base.repeats_per_call, new.repeats_per_call
    ratio = statistics.median(n) / statistics.median(b)
    return RatioStats(ratio, min(n) / max(b), max(n) / min(b), math.nan, len(b), len(n), math.nan)


def judge_counts(b_counts: Counts | None, n_counts: Counts | None, gate: InstructionGate,
                 time_ratio: float) -> tuple[Verdict, RatioStats | None, str, tuple[float, float]]:
    """(verdict, stats, note, (BASE, NEW) medians) of one measurement both files timed."""
    none = (math.nan, math.nan)
    if b_counts is None or not b_counts.counted:
        why = b_counts.skip_reason if b_counts else "not counted"
        return Verdict.SKIPPED, None, f"no instruction count in BASE ({why})", none
    if n_counts is None or not n_counts.counted:
        why = n_counts.skip_reason if n_counts else "not counted"
        return Verdict.LOST, None, f"BASE counted it; NEW has no instruction count ({why})", none
    stats = count_stats(b_counts, n_counts)
    note = f"repeats' spread {b_counts.spread:.2%} / {n_counts.spread:.2%}"
    if math.isfinite(time_ratio):
        note += f"; wall time {time_ratio:.3f}x (not gated)"
    if b_counts.calls != n_counts.calls:
        note += f"; calls differ ({b_counts.calls} vs {n_counts.calls})"
    if max(b_counts.spread, n_counts.spread) > gate.threshold / 2:
        note += "; a count this unsteady cannot be gated this tight"
    values = (statistics.median(b_counts.repeats_per_call), statistics.median(n_counts.repeats_per_call))
    return gate.verdict(stats), stats, note, values


def _counted(f: BenchFile) -> bool:
    return any(e.counts is not None and e.counts.counted for e in f.entries.values())


def choose_metric(asked: str | None, base: BenchFile, new: BenchFile) -> str:
    """The metric to gate on: as asked, else instructions when both files have counts, else time."""
    if asked not in (None, *METRICS):
        raise LinregError(f"--metric must be one of {', '.join(METRICS)}, got {asked!r}")
    both = _counted(base) and _counted(new)
    if asked == "instructions" and not both:
        missing = base.path if not _counted(base) else new.path
        raise LinregError(f"{missing}: no instruction counts (measure with bench --metric instructions)")
    return asked or ("instructions" if both else "time")
