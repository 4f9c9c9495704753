"""A store analysed: its runs in commit order, one trend per measurement, the flagged steps."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.compare.counts import InstructionGate
from bench.compare.gate import MedianGate
from bench.history.runs import Point, Run, Store, load_store
from bench.history.steps import Judgement, Step, detect_steps, judge, regressions
from bench.history.store import open_store
from bench.history.trends import Trend, build_trends, commit_order, git_commit_order, key_order, machine_runs
from linreg.errors import LinregError


@dataclass(frozen=True)
class LatestRow:
    label: str
    previous: Point
    latest: Point
    judgement: Judgement


@dataclass(frozen=True)
class LatestTable:
    machine: str
    previous: Run
    latest: Run
    rows: tuple[LatestRow, ...]


@dataclass(frozen=True)
class History:
    store: Store
    gate: MedianGate
    commits: list[str]                 # the shared x axis, oldest first
    trends: list[Trend]
    steps: list[Step]                  # newest first
    regressions: list[Step]            # flagged slowdowns in a machine's newest run
    # instruction counts (bench --metric instructions): their own trends, steps and gate
    count_gate: InstructionGate = field(default_factory=InstructionGate)
    count_trends: list[Trend] = field(default_factory=list)
    count_steps: list[Step] = field(default_factory=list)
    count_regressions: list[Step] = field(default_factory=list)


def analyze(root: str | Path, gate: MedianGate, repo: Path | None = None,
            count_gate: InstructionGate | None = None) -> History:
    """Load the store at `root` (skipping corrupt files) and find its trends and steps, of the
    times and, apart, of the instruction counts."""
    store = load_store(open_store(root))
    if not store.runs:
        raise LinregError(f"{root}: the store holds no readable run"
                          + (f" ({len(store.problems)} skipped)" if store.problems else ""))
    commits = commit_order(store.runs, git_commit_order(repo) if repo else None)
    trends = build_trends(store.runs, commits)
    steps = detect_steps(trends, gate)
    count_gate = count_gate or InstructionGate()
    count_trends = build_trends(store.runs, commits, metric="instructions")
    count_steps = detect_steps(count_trends, count_gate)
    return History(store, gate, commits, trends, steps, regressions(steps, store.runs),
                   count_gate, count_trends, count_steps, regressions(count_steps, store.runs))


@dataclass(frozen=True)
class SharedCommit:
    """The machines' newest runs of the newest commit that two or more machines measured."""

    commit: str
    runs: tuple[Run, ...]                     # one per machine, sorted by machine
    keys: tuple[str, ...]                     # every measurement of any of them, in report order


def shared_commit(history: History) -> SharedCommit | None:
    """The same code on several machines: the newest commit measured on at least two."""
    by_commit: dict[str, dict[str, Run]] = {}
    for run in sorted(history.store.runs, key=lambda r: (r.created_utc, r.run_id)):
        if not run.failure:
            by_commit.setdefault(run.commit, {})[run.machine] = run  # newest run per machine wins
    for commit in reversed(history.commits):
        runs = by_commit.get(commit, {})
        if len(runs) >= 2:
            chosen = tuple(runs[m] for m in sorted(runs))
            keys = sorted({k for r in chosen for k in r.points}, key=key_order)
            return SharedCommit(commit, chosen, tuple(keys))
    return None


def latest_tables(history: History) -> list[LatestTable]:
    """Each machine's newest run against the run before it (by time), measurement by measurement."""
    tables = []
    by_time = {m: sorted(rs, key=lambda r: (r.created_utc, r.run_id))
               for m, rs in machine_runs(history.store.runs, history.commits).items()}
    for machine, ordered in sorted(by_time.items()):
        if len(ordered) < 2:
            continue
        previous, latest = ordered[-2], ordered[-1]
        rows = tuple(LatestRow(latest.labels[k], previous.points[k], p,
                               judge(previous.points[k], p, history.gate))
                     for k, p in latest.points.items() if k in previous.points)
        tables.append(LatestTable(machine, previous, latest, rows))
    return tables
