"""`history backfill DIR --commits A..B`: each commit's own `bench`, run from a temporary worktree
with this environment (this Python, these packages), filed into the store oldest first.

asv's rules: a commit whose code cannot run (a missing module, a crash, a changed CLI) is stored
as a failure record with its reason, and the backfill goes on; a commit already stored for this
machine and these options is skipped, so an interrupted backfill resumes where it stopped; every
run is filed the moment it ends, so Ctrl-C loses only the commit being measured. A commit before
the measured code existed (no MEASURED_CODE in its tree) is named and skipped, not stored.

Every commit runs on one checkpoint, trained once by this tree (as `compare --rev --metric
instructions` does): the trees differ, the model they time does not.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.compare.interleave_workers import base_worktree, repo_root
from bench.engine.units import format_duration
from bench.history.commits import Commit, commit_info, has_file
from bench.history.store import MAX_RUN_BYTES, file_run, parse_run_filename
from bench.store.results import RESULTS_JSON, ResultsError, build_results, load_results
from linreg.errors import LinregError
from linreg.untrusted import load_json

MEASURED_CODE = "bench/__main__.py"  # a commit without it predates the measuring code: skipped
COMMIT_TIMEOUT_S = 3600               # one commit's train + bench; past it, a failure record
BACKFILL = "backfill"                  # the block a backfilled run carries: commit, options, key
FAILURE = "failure"                    # the block a failure record carries: {"stage", "reason"}


class CommitFailure(Exception):
    """This commit's code could not produce a run: `stage` (train, bench, results) and why."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage, self.reason = stage, reason


Runner = Callable[[Path, Commit, tuple[str, ...], Path], tuple[dict[str, Any], dict[str, float]]]


@dataclass
class Backfill:
    """One backfill: what to run, where to file it, and what it did so far."""

    store: Path
    repo: Path
    commits: list[str]                 # hashes, oldest first (already sampled)
    options: tuple[str, ...]           # passed to each commit's `bench` as they are
    machine: str
    checkpoint: Path | None = None     # None: train one with this tree first
    runner: Runner | None = None       # tests replace the subprocesses
    said: Callable[[str], None] = print
    stored: list[str] = field(default_factory=list)   # this time: "ok" or "failed" per commit

    @property
    def config_key(self) -> str:
        """Which runs count as "this configuration" when resuming: the options, nothing else."""
        text = json.dumps(list(self.options), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored_commits(store: Path, machine: str, key: str, wanted: list[str]) -> set[str]:
    """Those of `wanted` whose backfilled run (or failure) with this config key this machine's
    folder holds; only files named after a wanted commit are read."""
    folder = store / machine
    prefixes = {sha[:12] for sha in wanted}
    found: set[str] = set()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        parsed = parse_run_filename(path.name)
        if parsed is None or parsed[1].removesuffix("-dirty") not in prefixes:
            continue
        try:
            data = load_json(path, MAX_RUN_BYTES)  # a stranger's store: bounded, JSON only
        except LinregError:
            continue
        block = data.get(BACKFILL) if isinstance(data, dict) else None
        if isinstance(block, dict) and block.get("config_key") == key and isinstance(block.get("commit"), str):
            found.add(block["commit"])
    return found


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1][:300]


def _run(cmd: list[str], cwd: Path, stage: str) -> str:
    """One step of a commit's run, its stderr; exit 0 or 1 (a parity failure or nothing timed:
    still a results file) pass, any other way it ends is a CommitFailure naming its last line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # each tree imports itself
    try:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=COMMIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CommitFailure(stage, f"timed out after {COMMIT_TIMEOUT_S} s") from None
    except OSError as exc:
        raise CommitFailure(stage, f"could not start ({exc})") from None
    if done.returncode not in (0, 1):
        raise CommitFailure(stage, f"exit {done.returncode}: {_last_line(done.stderr)}")
    return done.stderr


def run_commit(repo: Path, commit: Commit, options: tuple[str, ...],
               checkpoint: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """The commit's own `python -m bench bench` in a temporary worktree: its results.json, and
    where the time went (checking out, the commit's bench; the rest is removing the worktree)."""
    start = time.monotonic()
    with base_worktree(commit.sha, prefix="linreg-backfill-", repo=repo, name="tree") as (work, tree):
        checked_out = time.monotonic()
        out = work / "bench"
        stderr = _run([sys.executable, "-m", "bench", "bench", "--checkpoint", str(checkpoint),
                       "--out", str(out), *options], tree, "bench")
        timing = {"worktree_s": round(checked_out - start, 2),
                  "bench_s": round(time.monotonic() - checked_out, 2)}
        if not (out / RESULTS_JSON).is_file():
            raise CommitFailure("bench", f"no {RESULTS_JSON} written: {_last_line(stderr)}")
        try:
            return load_results(out / RESULTS_JSON), timing
        except ResultsError as exc:
            raise CommitFailure("results", str(exc).replace(str(out) + os.sep, "")) from None


def annotate(ran: tuple[dict[str, Any], dict[str, float]], commit: Commit, plan: Backfill,
             seconds: float) -> dict[str, Any]:
    """The commit's results, stamped with the commit it measured and the backfill that ran it."""
    results, timing = ran
    doc = dict(results)
    env = dict(doc.get("environment") or {})
    env["git"] = {"commit": commit.sha, "dirty": False}  # the worktree's, whatever its bench said
    env.setdefault("machine_id", plan.machine)
    doc["environment"] = env
    doc[BACKFILL] = {**commit.record(), "config_key": plan.config_key, "options": list(plan.options),
                     "seconds": round(seconds, 1), **timing}
    return doc


def failure_record(commit: Commit, plan: Backfill, failure: CommitFailure, seconds: float) -> dict[str, Any]:
    """A run that measured nothing and says why: asv's "a failure is a result"."""
    env = {"machine_id": plan.machine, "git": {"commit": commit.sha, "dirty": False}}
    doc = build_results(env, {"pipeline": "history backfill"}, {}, [],
                        sections={FAILURE: {"stage": failure.stage, "reason": failure.reason}})
    doc[BACKFILL] = {**commit.record(), "config_key": plan.config_key, "options": list(plan.options),
                     "seconds": round(seconds, 1)}
    return doc


def train_checkpoint(folder: Path) -> Path:
    """One model.pth, trained by this tree's `train` (every commit then times the same model)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "bench", "train", "--out", str(folder)],
                          cwd=repo_root(), env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise LinregError(f"training the backfill's checkpoint failed ({_last_line(done.stderr)})")
    return folder / "model.pth"


def run_backfill(plan: Backfill) -> int:
    """Run every commit of the plan not stored yet; 0 when the range is done (failures included)."""
    key = plan.config_key
    already = stored_commits(plan.store, plan.machine, key, plan.commits)
    todo = [sha for sha in plan.commits if sha not in already]
    plan.said(f"backfill: {len(plan.commits)} commits selected, {len(plan.commits) - len(todo)} already "
              f"stored for machine {plan.machine} and these options (key {key}), {len(todo)} to run")
    with tempfile.TemporaryDirectory(prefix="linreg-backfill-ckpt-") as scratch:
        spent: list[float] = []
        try:
            for i, sha in enumerate(todo, 1):
                _one_commit(plan, commit_info(plan.repo, sha), i, len(todo), spent, Path(scratch))
        except KeyboardInterrupt:
            plan.said(f"backfill: interrupted; {len(plan.stored)} commits stored this time, "
                      f"{len(already) + len(plan.stored)} in all; the same command resumes")
            raise
    failed = plan.stored.count("failed")
    plan.said(f"backfill: done; {len(plan.stored) - failed} runs and {failed} failure records "
              f"stored this time, in {plan.store}")
    return 0


def _one_commit(plan: Backfill, commit: Commit, i: int, total: int, spent: list[float],
                scratch: Path) -> None:
    where = f"backfill: [{i}/{total}] {commit.short} {commit.subject[:60]!r}"
    if not has_file(plan.repo, commit.sha, MEASURED_CODE):
        plan.said(f"{where}: skipped, before the measured code existed (no {MEASURED_CODE})")
        return
    if plan.checkpoint is None:
        start = time.monotonic()
        plan.checkpoint = train_checkpoint(scratch / "train")
        plan.said(f"backfill: trained the model every commit times in {time.monotonic() - start:.0f} s")
    start = time.monotonic()
    runner = plan.runner or run_commit
    try:
        doc = annotate(runner(plan.repo, commit, plan.options, plan.checkpoint), commit, plan,
                       time.monotonic() - start)
        state = "ok"
    except CommitFailure as failure:
        doc = failure_record(commit, plan, failure, time.monotonic() - start)
        state = f"failed ({failure})"
    file_run(plan.store, doc, plan.machine)
    plan.stored.append(state.split(" ")[0])
    spent.append(time.monotonic() - start)
    left = statistics.fmean(spent) * (total - i)
    plan.said(f"{where}: {state} in {spent[-1]:.0f} s; about {format_duration(left)} left")
