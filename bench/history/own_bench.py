"""`history find --own-bench`: each commit's own `bench` run from its worktree, as backfill runs
it, with separate runs as the unit: one figure per run and Welch's t over runs
(bench/compare/runs.py), never a run's draws taken as independent. The figure is what compare
gates on within one environment: each run's host-normalised ratio (the median of its draws') where
every run of the step has a usable one against one reference kind, else each run's median of draw
medians. Over 50 runs of one commit on the AMD VM (results/regressions-layout) the ratio moved
2.5% (sd of the logs) at training N=40, 1.1% at batch 1 and 4.1% at 10^6, the time 13.4%, 21%
and 8.7%: host phases cancel in the ratio, and a step that needs 8 pairs in times needs 2 in
ratios. Commits before the companion (2544c5e) keep no ratio, so a step across it is in times.

The walk, asv's `find` with a test where asv compares two numbers:
1. The ends, A against B, in alternating pairs of runs (A B, B A, ...), Welch's t after 2 to
   --pairs pairs. Not slower beyond the threshold: exit 1. Undecided: exit 1, saying how many
   pairs would decide it.
2. Each middle commit M between the ends (good, bad) it has: rounds of three runs, (good M bad),
   then (bad M good), ...; after 2 to --pairs rounds, M is placed by Welch's t on the contrast
   log M - (log good + log bad) / 2, M against the midpoint of the ends. Significantly above it,
   M is like the bad end (the step is at or before M); below it, like the good end. The ends must
   differ in the step's own runs too, or nothing is placed. asv sends M to the half whose ends
   differ more (`difference_3way`, no test); neither side significant here, the walk stops and
   names the range it has: M may sit halfway (two steps, or a gradual slowdown).

Why place M between both ends instead of asking "M against the good end: not slower?": a
"not slower" needs M's whole interval under the threshold, which at this VM's run-to-run spread
(runs of one commit move 5-18%) took more than 4 pairs and would take about 15; placing M only
has to tell which end it is nearer, half the step's size away from the midpoint. The ends' runs
are measured afresh in every step, interleaved with M's: runs from an earlier step would carry an
earlier host phase into one side of the contrast.

Not compare's gate on a pair of runs: it takes a run's draws as independent, and they share its
host phase (one pair read a 1.45x step as 0.814x [0.700, 1.045]: results/history-self).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from bench.compare.files import match_key, results_bench_file
from bench.compare.gate import MedianGate
from bench.compare.runs import Contrast, needed_to_resolve, to_resolve, welch_contrast, welch_log_ratio
from bench.compare.significance import RatioStats
from bench.history.backfill import MEASURED_CODE, CommitFailure, run_commit
from bench.history.commits import Commit, has_file
from bench.history.find import (FAILED, INCONCLUSIVE, NOT_SLOWER, SLOWER, StepResult, StepRunner,
                                max_steps, nothing_named)
from linreg.errors import LinregError

# runs are few, so pyperf's level; 2 to 6 pairs (or rounds) a step: at the host ratio's 2.5% spread
# a 1.10x step's middle commit is placed within 4 rounds in 73% of trials, within 6 in about 93%
# (tests/benchmarks/find_power.py)
RUNS_ALPHA, MAX_PAIRS = 0.05, 6
LIKE_GOOD, LIKE_BAD = "like the good end", "like the bad end"
ENDS_EQUAL = "the ends did not differ here"
TIMES, RATIOS = "each run's median of draw medians", "each run's host-normalised ratio"


@dataclass(frozen=True)
class RunFigure:
    """What one run measured of KEY: its time, and its host ratio where the run has a usable one."""
    time_s: float                 # its median of draw medians (its samples' median without draws)
    ratio: float | None = None    # the median of its draws' host-normalised ratios
    reference: str | None = None  # ...against this companion reference kind


Measure = Callable[[Commit], "tuple[RunFigure | None, str]"]  # one run's figure, or None and why


def step_values(groups: tuple[list[RunFigure], ...]) -> tuple[list[list[float]], str]:
    """(values, what they are): ratios where every run has one of one reference kind, else times."""
    runs = [r for g in groups for r in g]
    if all(r.ratio is not None for r in runs) and len({r.reference for r in runs}) == 1:
        return [[r.ratio for r in g if r.ratio is not None] for g in groups], RATIOS
    return [[r.time_s for r in g] for g in groups], TIMES


def history_key(key: str) -> str:
    """A --measurement for --own-bench: any measurement's history key, phase/runtime/device/size."""
    parts = key.split("/")
    if len(parts) != 4 or not all(parts) or not parts[3].isdigit():
        raise LinregError(f"--measurement {key!r}: --own-bench takes a history key, "
                          "phase/runtime/device/size (train_epoch/eager/cpu/40)")
    return match_key(*parts)


def run_figure(doc: dict, key: str, name: str) -> tuple[RunFigure | None, str]:
    """(figure, "") or (None, why): one run's figure for KEY: its median of draw medians (its
    samples' median in a file that keeps no draws), and its host ratio where usable."""
    entry = results_bench_file(doc, name).entries.get(key)
    if entry is None:
        return None, f"{name} did not measure it"
    if entry.skip_reason or entry.parity_passed is False:
        return None, f"{name}: {entry.skip_reason or 'parity failed'}"
    time_s = statistics.median(entry.draws_s) if entry.draws_s else entry.median_s
    if not (math.isfinite(time_s) and time_s > 0):
        return None, f"{name}: no time"
    if entry.host_usable and entry.host_ratios:
        return RunFigure(time_s, statistics.median(entry.host_ratios), entry.host_reference), ""
    return RunFigure(time_s), ""


def runs_outcome(stats: RatioStats, gate: MedianGate, alpha: float) -> str:
    """Slower: beyond the threshold and significant over runs; not slower: the whole interval
    under the threshold; else inconclusive."""
    if stats.ratio > 1.0 + gate.threshold and stats.p_value < alpha:
        return SLOWER
    return NOT_SLOWER if stats.ci_high <= 1.0 + gate.threshold else INCONCLUSIVE


def paired_runs(measure: Measure, gate: MedianGate,
                alpha: float = RUNS_ALPHA, pairs: int = MAX_PAIRS) -> StepRunner:
    """A step runner over separate runs: pairs of runs in alternating order (base new, new base,
    ...), and after the second pair and each one after it, Welch's t on the runs' log figures
    (step_values); it stops at the first decided outcome or after `pairs` pairs.
    `measure(commit)`: one run's figure, or None and why it has none."""
    def judge(figures: tuple[list[RunFigure], ...], n: int) -> StepResult:
        (base_v, new_v), what = step_values(figures)
        stats = welch_log_ratio(base_v, new_v, 1.0 - alpha)
        return StepResult(runs_outcome(stats, gate, alpha), stats, f"{n} pairs of runs, Welch's t on {what}")

    def step(base: Commit, new: Commit) -> StepResult:
        judged, why = alternating_rounds((base, new), measure, pairs, judge)
        if judged is None:
            return StepResult(FAILED, None, why)
        result: StepResult = judged
        if result.stats is not None and result.outcome == INCONCLUSIVE:
            result = StepResult(INCONCLUSIVE, result.stats,
                                f"{result.note}; {pairs_to_decide(result.stats, gate, pairs)}")
        return result
    return step


def alternating_rounds(commits: tuple[Commit, ...], measure: Measure, cap: int,
                       judge: Callable[[tuple[list[RunFigure], ...], int], StepResult | Placement]
                       ) -> tuple[StepResult | Placement | None, str]:
    """Runs of `commits` in rounds, in their order then reversed (A B, B A, ... or good M bad,
    bad M good, ...); after the second round and each one after it, judge(figures, rounds); it
    stops at the first decided outcome or after `cap` rounds. (the last judgement, "") or
    (None, why a run had no figure)."""
    figures: tuple[list[RunFigure], ...] = tuple([] for _ in commits)
    result = None
    for k in range(cap):
        order = range(len(commits)) if k % 2 == 0 else reversed(range(len(commits)))
        for i in order:
            figure, why = measure(commits[i])
            if figure is None:
                return None, why
            figures[i].append(figure)
        if k >= 1:
            result = judge(figures, k + 1)
            if result.outcome != INCONCLUSIVE:
                break
    return result, ""


def pairs_to_decide(stats: RatioStats, gate: MedianGate, pairs: int) -> str:
    """How many pairs would decide an inconclusive step at the runs' spread: the interval's
    half-width (in logs) must fit between the ratio and the threshold (compare's rule)."""
    if not (stats.ci_low > 0 and stats.ci_high > 0 and stats.ratio > 0):
        return "no interval to tell how many pairs would decide it"
    needed = to_resolve(stats, gate.threshold, pairs)
    if needed is None:
        return "the ratio sits on the threshold: no number of pairs decides it"
    return f"at this run-to-run spread about {needed} pairs would decide it"


def own_bench_measure(repo: Path, key: str, options: tuple[str, ...], checkpoint: Callable[[], Path],
                      said: Callable[[str], None] = print) -> Measure:
    """One run of a commit's own `bench OPTIONS` (backfill's run_commit) and its figure for KEY,
    printed as it comes. `checkpoint()`: the model all of them time."""
    @lru_cache(maxsize=None)  # a commit's tree does not change: asked once per commit
    def predates(sha: str) -> bool:
        return not has_file(repo, sha, MEASURED_CODE)

    def measure(commit: Commit) -> tuple[RunFigure | None, str]:
        if predates(commit.sha):
            return None, f"{commit.short} predates the measured code"
        try:
            doc, timing = run_commit(repo, commit, options, checkpoint())
        except CommitFailure as failure:
            return None, f"{commit.short}: {failure}"
        figure, why = run_figure(doc, key, f"{commit.short}'s own bench")
        shown = f" ({why})" if figure is None else f": {figure.time_s * 1e6:.2f} us" + (
            f", host ratio {figure.ratio:.4g} ({figure.reference})" if figure.ratio is not None else "")
        said(f"  ran {commit.short}'s own bench in {timing['bench_s']:.0f} s{shown}")
        return figure, why
    return measure


@dataclass(frozen=True)
class Placement:
    """Where a middle commit's runs sit between the ends' runs of the same step."""

    outcome: str                 # LIKE_GOOD | LIKE_BAD | INCONCLUSIVE | FAILED
    contrast: Contrast | None    # log M - (log good + log bad) / 2, over the step's runs
    ends: RatioStats | None      # bad/good over the same step's runs
    middle: float = math.nan     # M/good, the ratio of geometric means
    note: str = ""

    def describe(self) -> str:
        if self.contrast is None or self.ends is None:
            return self.outcome + (f" ({self.note})" if self.note else "")
        c, e = self.contrast, self.ends
        return (f"{math.exp(c.value):.3f}x [{math.exp(c.low):.3f}, {math.exp(c.high):.3f}] the "
                f"ends' midpoint p={c.p_value:.2g} (against the good end {self.middle:.3f}x; the "
                f"bad end {e.ratio:.3f}x [{e.ci_low:.3f}, {e.ci_high:.3f}] p={e.p_value:.2g}; "
                f"{self.note}): {self.outcome}")


MiddleRunner = Callable[[Commit, Commit, Commit], Placement]


def placement(good: list[float], middle: list[float], bad: list[float], alpha: float,
              note: str) -> Placement:
    """Place M by the contrast's sign where it is significant and the ends themselves differ
    (bad slower than good at p < alpha) in these runs; else inconclusive."""
    contrast = welch_contrast((good, middle, bad), (-0.5, 1.0, -0.5), 1.0 - alpha)
    ends = welch_log_ratio(good, bad, 1.0 - alpha)
    m = statistics.geometric_mean(middle) / statistics.geometric_mean(good)
    if not (ends.ratio > 1.0 and ends.p_value < alpha):
        return Placement(INCONCLUSIVE, contrast, ends, m, f"{note}; {ENDS_EQUAL}")
    if contrast.p_value >= alpha:
        return Placement(INCONCLUSIVE, contrast, ends, m, note)
    return Placement(LIKE_BAD if contrast.value > 0 else LIKE_GOOD, contrast, ends, m, note)


def placed_runs(measure: Measure, alpha: float = RUNS_ALPHA, rounds: int = MAX_PAIRS) -> MiddleRunner:
    """A middle step over separate runs: rounds of (good M bad), (bad M good), ...; after the
    second round and each one after it, `placement`; it stops when placed or after `rounds`."""
    def judge(figures: tuple[list[RunFigure], ...], n: int) -> Placement:
        values, what = step_values(figures)
        return placement(*values, alpha, f"{n} rounds of runs, Welch's t on {what}")

    def place(good: Commit, middle: Commit, bad: Commit) -> Placement:
        judged, why = alternating_rounds((good, middle, bad), measure, rounds, judge)
        if judged is None:
            return Placement(FAILED, None, None, note=why)
        result: Placement = judged
        if result.contrast is not None and result.ends is not None and result.outcome == INCONCLUSIVE:
            hint = (rounds_to_separate(result.ends, rounds) if result.note.endswith(ENDS_EQUAL)
                    else rounds_to_place(result.contrast, rounds))
            result = Placement(INCONCLUSIVE, result.contrast, result.ends, result.middle,
                               f"{result.note}; {hint}")
        return result
    return place


def rounds_to_separate(ends: RatioStats, rounds: int) -> str:
    """How many rounds would tell the ends apart at the runs' spread, where they did not differ."""
    half, gap = math.log(ends.ci_high / ends.ratio), math.log(ends.ratio)
    if gap <= 1e-3 * half:
        return "the ends measured alike: the step is not in these runs"
    return f"at this run-to-run spread about {needed_to_resolve(rounds, half, gap)} rounds would tell the ends apart"


def rounds_to_place(c: Contrast, rounds: int) -> str:
    """How many rounds would place M at the runs' spread: the half-width must fit inside |contrast|."""
    half = (c.high - c.low) / 2.0
    if abs(c.value) < 1e-3 * half:
        return "M sits at the ends' midpoint: no number of rounds places it"
    return f"at this run-to-run spread about {needed_to_resolve(rounds, half, abs(c.value))} rounds would place it"


def bisect_runs(base: Commit, commits: list[Commit], ends: StepRunner, place: MiddleRunner,
                said: Callable[[str], None] = print) -> int:
    """0 and the commit when one is named; 1 when none is (no step, or undecided)."""
    line, n = [base, *commits], len(commits)
    said(f"find: {n} commits after {base.short} up to {commits[-1].short}; at most "
         f"{max_steps(n)} own-bench steps, if none is inconclusive")
    first = ends(base, commits[-1])
    said(f"step 1: {first.describe()} - {commits[-1].short} {commits[-1].subject[:70]!r} against "
         f"{base.short} ({n} commits later)")
    if first.outcome != SLOWER:
        said(nothing_named(first.outcome, base, commits[-1], "--pairs"))
        return 1
    good, bad, steps = 0, n, 1
    while bad - good > 1:
        mid, steps = (good + bad) // 2, steps + 1
        placed = place(line[good], line[mid], line[bad])
        said(f"step {steps}: {placed.describe()} - {line[mid].short} {line[mid].subject[:70]!r} "
             f"between {line[good].short} and {line[bad].short}")
        if placed.outcome == LIKE_BAD:
            bad = mid
        elif placed.outcome == LIKE_GOOD:
            good = mid
        else:
            said(f"find: not narrowing past an undecided middle ({placed.outcome}); the slowdown "
                 f"lies after {line[good].short} up to {line[bad].short} ({bad - good} commits)")
            return 1
    said(f"found: {line[bad].sha} {line[bad].subject}")
    said(f"  the step: {first.describe()}, measured {base.short} -> {commits[-1].short}; "
         f"{steps} own-bench steps, each middle commit placed between runs of both ends")
    return 0
