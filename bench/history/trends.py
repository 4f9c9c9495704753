"""Trends: every measurement's points over commits, per machine, with fingerprint changes marked.

Commits are ordered by git when a repository is given (`--repo`: ancestry, as asv does), else by
the first time the store saw each commit. Within a commit, runs keep their time order.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.compare.comparison import fingerprint_diffs
from bench.history.runs import Point, Run
from linreg.errors import LinregError


@dataclass(frozen=True)
class TrendPoint:
    run: Run
    point: Point
    commit_index: int            # position of the run's commit on the shared x axis
    env_change: str              # "" or what differs from the machine's previous run (fingerprint)


@dataclass(frozen=True)
class Trend:
    key: str                                     # phase/runtime/device/size (compare's match key)
    label: str
    by_machine: dict[str, tuple[TrendPoint, ...]]


def git_commit_order(repo: Path) -> list[str]:
    """Every commit reachable from any ref of `repo`, oldest first (topological)."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-list", "--all", "--topo-order", "--reverse"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LinregError(f"--repo {repo}: cannot run git ({exc})") from None
    if out.returncode != 0:
        raise LinregError(f"--repo {repo}: not a git repository ({out.stderr.strip()[:120]})")
    return out.stdout.split()


def commit_order(runs: tuple[Run, ...] | list[Run], git_order: list[str] | None = None) -> list[str]:
    """The store's commits in order: git's where known, then the rest by first appearance.

    Without a repository, the ancestry that backfilled runs record orders their commits (a
    commit's generation, its count of ancestors, exceeds every ancestor's): a backfill run
    newest first, or resumed out of order, still plots oldest first."""
    first_seen: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: r.created_utc):
        first_seen.setdefault(run.commit, run.created_utc)
    if not git_order:
        generation = {r.commit: r.generation for r in runs if r.generation is not None}
        known = sorted(generation, key=lambda c: (generation[c], first_seen[c]))
        return known + sorted((c for c in first_seen if c not in generation), key=lambda c: first_seen[c])
    rank = {c: i for i, c in enumerate(git_order)}
    known = sorted((c for c in first_seen if c in rank), key=rank.__getitem__)
    return known + sorted((c for c in first_seen if c not in rank), key=lambda c: first_seen[c])


def machine_runs(runs: tuple[Run, ...] | list[Run], order: list[str]) -> dict[str, list[Run]]:
    """{machine: its runs in commit order, then time}."""
    index = {c: i for i, c in enumerate(order)}
    out: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (index[r.commit], r.created_utc, r.run_id)):
        if not run.failure:  # a failure record measured nothing: no point, no baseline
            out.setdefault(run.machine, []).append(run)
    return out


def env_changes(ordered: list[Run]) -> dict[str, str]:
    """{run_id: what its fingerprint changed from the previous run of its machine} (changed runs only)."""
    out: dict[str, str] = {}
    for before, after in zip(ordered, ordered[1:]):
        diffs = fingerprint_diffs(before.file, after.file)
        if diffs:
            out[after.run_id] = "; ".join(f"{k}: {b!r} -> {a!r}" for k, b, a in diffs)
    return out


def build_trends(runs: tuple[Run, ...] | list[Run], order: list[str],
                 metric: str = "time") -> list[Trend]:
    """One trend per measurement key, each with its points per machine in commit order; of the
    times, or with metric "instructions" of the instruction counts (their own lines)."""
    index = {c: i for i, c in enumerate(order)}
    per_key: dict[str, dict[str, list[TrendPoint]]] = {}
    labels: dict[str, str] = {}
    for machine, ordered in machine_runs(runs, order).items():
        changes = env_changes(ordered)
        for run in ordered:
            for key, point in (run.counts if metric == "instructions" else run.points).items():
                labels.setdefault(key, run.labels[key])
                per_key.setdefault(key, {}).setdefault(machine, []).append(
                    TrendPoint(run, point, index[run.commit], changes.get(run.run_id, "")))
    return [Trend(key, labels[key], {m: tuple(ps) for m, ps in sorted(per_key[key].items())})
            for key in sorted(per_key, key=key_order)]


def key_order(key: str) -> tuple[str, str, str, int]:
    """phase, runtime, device, then size as a number (10 before 100)."""
    phase, runtime, device, size = (key.split("/") + ["", "", "", "0"])[:4]
    return phase, runtime, device, int(size) if size.isdigit() else 0
