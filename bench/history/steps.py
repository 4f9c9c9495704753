"""Step detection: a change between consecutive commits, flagged by `compare`'s own rule.

A step is flagged when the ratio of the two points is beyond the gate's threshold AND the
Mann-Whitney U test on their samples says p < alpha (bench/gate.py MedianGate.verdict on
bench/significance.py compare_samples: the same code `compare` runs, not a copy). Each commit is
represented by its newest run on the machine; an interrupted (partial) run is never a baseline.
Instruction counts (their own trends) are judged by compare's InstructionGate: a threshold on
the ratio of the repeats' medians, no test (2 repeats a side can never reach any alpha).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from bench.compare.witness import confirmed, gate_for
from bench.compare.files import RAW_SAMPLES
from bench.compare.gate import Verdict
from bench.history.runs import Point, Run
from bench.history.trends import Trend, TrendPoint
from bench.compare.significance import RatioStats, compare_samples

FLAGGED = (Verdict.SLOWER, Verdict.FASTER)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict               # faster | slower | unchanged | unresolved | inconclusive
    stats: RatioStats | None       # None when the ratio is within the threshold (no test needed)
    ratio: float


@dataclass(frozen=True)
class Step:
    machine: str
    key: str
    label: str
    base: Run
    new: Run
    judgement: Judgement
    env_change: str                # the fingerprint changed between the two runs: say what

    @property
    def slower(self) -> bool:
        return self.judgement.verdict == Verdict.SLOWER


def judge(base: Point, new: Point, gate: Any, resamples: int = 2000,
          same_environment: bool = True) -> Judgement:
    """The gate's verdict on NEW against BASE, on what `compare` gates on (Entry.gated: the
    draws' host-normalised ratios within one environment, else the draws' medians, else the raw
    samples; never rescaled copies).

    Within the threshold the verdict is unchanged or unresolved by the interval (the gate's
    no_change), so the bootstrap runs there too, on the draws (tens a side, ~1 ms).
    """
    if gate.metric == "instructions":  # counts: a threshold on the repeats' medians (compare/counts.py)
        ratio = statistics.median(new.samples_s) / statistics.median(base.samples_s)
        stats = RatioStats(ratio, min(new.samples_s) / max(base.samples_s),
                           max(new.samples_s) / min(base.samples_s), math.nan,
                           len(base.samples_s), len(new.samples_s), math.nan)
        return Judgement(gate.verdict(stats), stats, ratio)
    figure = ""
    if base.entry is not None and new.entry is not None:
        base_values, figure = base.entry.gated(new.entry, host=same_environment)
        new_values, _ = new.entry.gated(base.entry, host=same_environment)
    else:
        base_values, new_values = base.samples_s, new.samples_s
    if figure == RAW_SAMPLES:
        # a run kept no draws (v1/v2, fewer than 3): its samples come from one instance or a
        # few, not independent; a U test on them flagged one process's layout as a 1.2x step
        # (results/history-self/quick), so nothing is called on them, no step and no "unchanged"
        b, n = statistics.median(base_values), statistics.median(new_values)
        ratio = n / b if b > 0 else math.inf
        within = 1.0 / (1.0 + gate.threshold) <= ratio <= 1.0 + gate.threshold
        return Judgement(Verdict.UNRESOLVED if within else Verdict.INCONCLUSIVE, None, ratio)
    stats = compare_samples(base_values, new_values, resamples=resamples)
    if base.entry is not None and new.entry is not None:  # compare's levels and two-witness rule
        gate = gate_for(gate, figure, base.entry)
        verdict, _ = confirmed(gate.verdict(stats), stats, figure, base.entry, new.entry, gate)
    else:
        verdict = gate.verdict(stats)
    return Judgement(verdict, stats, stats.ratio)


def _representatives(points: tuple[TrendPoint, ...]) -> list[TrendPoint]:
    """The newest point of each commit, in commit order (points come in commit, then time, order)."""
    reps: list[TrendPoint] = []
    for tp in points:
        if reps and reps[-1].commit_index == tp.commit_index:
            reps[-1] = tp
        else:
            reps.append(tp)
    return reps


def series_steps(trend: Trend, machine: str, gate: Any) -> list[Step]:
    """Flagged steps of one measurement on one machine, oldest first.

    A step must persist: when a later point exists, the baseline against it must give the same
    verdict. One run off in a host slow phase (its reference refused, its times slow: A, B at
    1.22x, C back at A) is then an outlier, not a slowdown and a speed-up: neither is flagged,
    and the next point is judged against A (a slowdown the next commit reverts is not flagged
    either; the trend shows both). The newest point has nothing after it and is judged alone,
    as `--regressions` needs."""
    points = trend.by_machine[machine]
    reps = _representatives(points)
    steps: list[Step] = []
    baseline: TrendPoint | None = None
    for i, tp in enumerate(reps):
        if baseline is not None:
            j, env = _judged(points, baseline, tp, gate)
            if j.verdict in FLAGGED:
                after = next((later for later in reps[i + 1:] if not later.run.partial), None)
                if after is not None and _judged(points, baseline, after, gate)[0].verdict != j.verdict:
                    continue  # one run off: an outlier, and the baseline stays
                steps.append(Step(machine, trend.key, trend.label, baseline.run, tp.run, j, env))
        if not tp.run.partial:
            baseline = tp
    return steps


def _judged(points: tuple[TrendPoint, ...], base: TrendPoint, new: TrendPoint,
            gate: Any) -> tuple[Judgement, str]:
    """(the gate's judgement of `new` against `base`, the fingerprint changes between them)."""
    env = _env_between(points, base, new)
    return judge(base.point, new.point, gate, same_environment=not env), env


def _env_between(points: tuple[TrendPoint, ...], base: TrendPoint, new: TrendPoint) -> str:
    """Fingerprint changes recorded on the points after `base` up to `new` (series order)."""
    start = next(i for i, tp in enumerate(points) if tp is base)
    end = next(i for i, tp in enumerate(points) if tp is new)
    return "; ".join(dict.fromkeys(tp.env_change for tp in points[start + 1:end + 1] if tp.env_change))


def detect_steps(trends: list[Trend], gate: Any) -> list[Step]:
    """Every flagged step of every measurement and machine, newest first."""
    steps = [s for t in trends for m in t.by_machine for s in series_steps(t, m, gate)]
    return sorted(steps, key=lambda s: (s.new.created_utc, s.machine, s.key), reverse=True)


def newest_runs(runs: tuple[Run, ...] | list[Run]) -> dict[str, Run]:
    """{machine: its newest run by time} (failure records measured nothing: never the newest)."""
    out: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: (r.created_utc, r.run_id)):
        if not run.failure:
            out[run.machine] = run
    return out


def regressions(steps: list[Step], runs: tuple[Run, ...] | list[Run]) -> list[Step]:
    """Flagged slowdowns carried by the newest run of their machine: what `--regressions` fails on."""
    newest = {m: r.run_id for m, r in newest_runs(runs).items()}
    return [s for s in steps if s.slower and newest.get(s.machine) == s.new.run_id]
