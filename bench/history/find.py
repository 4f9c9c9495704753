"""`history find DIR --commits A..B --measurement KEY`: bisect for the commit that made KEY slower.

asv's `find` bisects over stored runs; here every step is measured afresh, the two commits
interleaved in one job exactly as `compare --rev` measures (alternating blocks, fresh worker
pairs), because two separate runs on this kind of machine differ by more than the steps looked for.

The walk: first A against B. Not slower beyond the threshold: exit 1, nothing to find. Slower:
keep (good, bad) = (A, B) and test the middle commit against the good end; slower moves the bad
end to it, not slower (its interval under the threshold) moves the good end. That is 1 +
ceil(log2(n)) steps for n commits. A step that is neither (beyond the threshold but not
significant, or an interval that straddles it) is inconclusive: it is measured once more with
twice the rounds, and if it stays so the walk says so and stops with the range it has, instead of
narrowing on noise. So does a commit that cannot run.

That times both commits' linreg code under THIS tree's harness: a step the measuring code itself
made (a new reference, a different published figure) is invisible to it, by design. `--own-bench`
(bench/history/own_bench.py) measures what the history stores instead: each commit's own `bench`
run from its worktree, separate runs as the unit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.compare.comparison import compare_files
from bench.compare.files import match_key, results_bench_file
from bench.compare.gate import MedianGate, Verdict
from bench.compare.interleave import InterleaveConfig, measure_interleaved
from bench.compare.interleave_driver import WORKLOADS
from bench.compare.interleave_workers import base_worktree
from bench.compare.significance import RatioStats
from bench.history.commits import Commit
from linreg.errors import LinregError

SLOWER, NOT_SLOWER, INCONCLUSIVE, FAILED = "slower", "not slower", "inconclusive", "failed"
NOT_RUN = (Verdict.FAILED_IN_NEW, Verdict.LOST, Verdict.PARITY_FAILED, Verdict.SKIPPED,
           Verdict.ONLY_IN_BASE, Verdict.ONLY_IN_NEW)


@dataclass(frozen=True)
class StepResult:
    outcome: str                   # SLOWER | NOT_SLOWER | INCONCLUSIVE | FAILED
    stats: RatioStats | None       # new/base: the ratio of medians, its interval, p
    note: str = ""                 # compare's note (a crash's first line, ...)

    def describe(self) -> str:
        if self.stats is None:
            return f"{self.outcome}" + (f" ({self.note})" if self.note else "")
        s = self.stats
        p = f" p={s.p_value:.2g}" if math.isfinite(s.p_value) else ""
        how = f" ({self.note})" if self.note else ""
        return f"{s.ratio:.3f}x [{s.ci_low:.3f}, {s.ci_high:.3f}]{p}{how}: {self.outcome}"


StepRunner = Callable[[Commit, Commit], StepResult]


def workload_of(key: str) -> str:
    """The interleave workload a --measurement names: its own name, or its history key."""
    keys = {match_key(*spec): name for name, spec in WORKLOADS.items()}
    if key in WORKLOADS:
        return key
    if key in keys:
        return keys[key]
    choices = ", ".join(f"{k} ({n})" for k, n in keys.items())
    raise LinregError(f"--measurement {key!r} is not one `find` can measure interleaved "
                      f"(choose from {choices})")


def classify(verdict: str, stats: RatioStats | None, gate: MedianGate) -> str:
    """A step's outcome: slower is compare's own verdict; "not slower" needs the whole interval
    under the threshold, so a step that might be one is never stepped over."""
    if verdict == Verdict.SLOWER:
        return SLOWER
    if verdict in NOT_RUN:
        return FAILED
    if stats is not None and verdict in (Verdict.UNCHANGED, Verdict.UNRESOLVED, Verdict.FASTER) \
            and stats.ci_high <= 1.0 + gate.threshold:
        return NOT_SLOWER
    return INCONCLUSIVE


def interleaved_steps(repo: Path, workload: str, config: InterleaveConfig,
                      gate: MedianGate) -> StepRunner:
    """A step runner: both commits checked out into temporary worktrees, timed interleaved."""
    key = match_key(*WORKLOADS[workload])

    def step(base: Commit, new: Commit) -> StepResult:
        with base_worktree(base.sha, prefix="linreg-find-", repo=repo, name="base") as (work, base_tree):
            with base_worktree(new.sha, prefix="linreg-find-", repo=repo, name="new") as (_, new_tree):
                base_doc, new_doc = measure_interleaved(base_tree, new_tree, config, work)
        comparison = compare_files(results_bench_file(base_doc, f"{base.short}, interleaved"),
                                   results_bench_file(new_doc, f"{new.short}, interleaved"), gate)
        row = next((r for r in comparison.rows if r.key == key), None)
        if row is None:
            return StepResult(FAILED, None, "neither commit measured it")
        return StepResult(classify(row.verdict, row.stats, gate), row.stats, row.note)
    return step


def max_steps(n: int) -> int:
    """Steps a bisection over n commits after A takes: A against B, then halving."""
    return 1 + (math.ceil(math.log2(n)) if n > 1 else 0)


def bisect(base: Commit, commits: list[Commit], step: StepRunner,
           said: Callable[[str], None] = print, again: StepRunner | None = None) -> int:
    """0 and the commit when one is named; 1 when none is (no step, or inconclusive).

    `again`: how an inconclusive step is measured a second time (more rounds) before the walk
    gives up on it; a failed commit is not measured again. A middle commit that stays
    inconclusive against the good end is then measured from the other side: the bad end against
    it. Slower there, the slowdown lies after it (at least in part) and the walk goes on above
    it, saying that the part below stays undecided; otherwise it stops. (--own-bench walks with
    bench/history/own_bench.py's bisect_runs.)"""
    line = [base, *commits]
    said(f"find: {len(commits)} commits after {base.short} up to {commits[-1].short}; at most "
         f"{max_steps(len(commits))} interleaved steps, if none is inconclusive")
    good, bad, steps = 0, len(line) - 1, [0]
    last_slower: tuple[int, int, StepResult] | None = None
    undecided: list[str] = []

    def measured(lo: int, hi: int) -> StepResult:
        steps[0] += 1
        result = step(line[lo], line[hi])
        said(_step_line(steps[0], result, line[lo], line[hi], hi - lo))
        if result.outcome == INCONCLUSIVE and again is not None:
            steps[0] += 1
            result = again(line[lo], line[hi])
            said(_step_line(steps[0], result, line[lo], line[hi], hi - lo) + " (measured again)")
        return result
    while True:
        probe = bad if last_slower is None else (good + bad) // 2
        result = measured(good, probe)
        if result.outcome == INCONCLUSIVE and last_slower is not None:
            above = measured(probe, bad)  # the other side of the undecided commit
            if above.outcome == SLOWER:
                undecided.append(f"{line[good].short}..{line[probe].short}")
                good, last_slower = probe, (probe, bad, above)
                if bad - good == 1:
                    break
                continue
        if result.outcome == SLOWER:
            bad, last_slower = probe, (good, probe, result)
        elif result.outcome == NOT_SLOWER and last_slower is not None:
            good = probe
        elif last_slower is None:
            said(nothing_named(result.outcome, base, commits[-1], "--rounds"))
            return 1
        else:
            said(f"find: not narrowing past an undecided step ({result.outcome}); the slowdown "
                 f"lies after {line[good].short} up to {line[bad].short} ({bad - good} commits)")
            return 1
        if bad - good == 1:
            break
    return _found(line, bad, last_slower, undecided, steps[0], said)


def nothing_named(outcome: str, base: Commit, last: Commit, more: str) -> str:
    """What a walk says when its first step, A against B, names no step: `more` is the option
    that measures a step longer."""
    if outcome == NOT_SLOWER:
        return "find: no step beyond the threshold in the range"
    return (f"find: {outcome} from {base.short} to {last.short}; no commit named (more {more}, or "
            "a quieter machine, may decide it)")


def _found(line: list[Commit], bad: int, last_slower: tuple[int, int, StepResult], undecided: list[str],
           steps: int, said: Callable[[str], None]) -> int:
    found, s = line[bad], last_slower[2]
    said(f"found: {found.sha} {found.subject}")
    said(f"  the step: {s.describe()}, measured {line[last_slower[0]].short} -> "
         f"{line[last_slower[1]].short}; {steps} interleaved steps")
    if undecided:
        said(f"  undecided below it: {', '.join(undecided)} (a smaller step there is not ruled out)")
    return 0


def _step_line(n: int, result: StepResult, good: Commit, probe: Commit, apart: int) -> str:
    return (f"step {n}: {result.describe()} - {probe.short} {probe.subject[:70]!r} against "
            f"{good.short} ({apart} commits later)")
