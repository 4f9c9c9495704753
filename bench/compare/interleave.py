"""Same-job comparison: this tree against a git revision, measured interleaved in one job.

Why: on this kind of machine two CI jobs (or two processes) differ by 26% and more, while
alternating blocks of 0.5 s inside one job agree within about 2% (tests/benchmarks/measure_fpr.py
measures the gate on a machine). So the baseline revision is checked out into a temporary `git worktree`, and a
pair of worker processes (one per tree, each importing its own `linreg`/`export` through
PYTHONPATH) time the same small workloads in alternating blocks, in ABBA order so drift cancels.
Whole processes can also run 1.4-2x slow for their lifetime, which one long-lived worker per
side would turn into a bias of that side, so the pair is replaced by a fresh one every
`restart_every` rounds (2 by default, alternating which side starts first): a slow process then
becomes noise between samples that the U test sees, not a constant offset. The per-block medians
become two results.json documents that go through the same statistics and gate as `compare`. A
candidate that raises in a workload gets a "failed: ..." record, which the gate counts as a
regression. The worker side is bench/compare/interleave_driver.py (stdlib-only, see why there).
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.compare import interleave_driver
from bench.compare.comparison import Comparison, compare_files
from bench.compare.files import results_bench_file
from bench.compare.gate import MedianGate
from bench.compare.interleave_driver import CLOCKS, WORKLOADS
from bench.compare.interleave_workers import Worker, WorkerFailure, base_worktree, git as _git, repo_root
from bench.engine.measurement import Measurement, Spec
from bench.engine.timing import GC_POLICY
from bench.store.results import build_results
from linreg.errors import LinregError
from linreg.files import write_json_atomic
from linreg.progress import Progress

@dataclass(frozen=True)
class InterleaveConfig:
    rounds: int = 10              # alternating rounds; 10 per side lets U reach p ~ 1e-5
    block_s: float = 0.5          # one timed block; 0.5 s blocks of one job pair within about 2%
    threads: int = 1              # torch intra-op threads in both workers (results depend on it)
    workloads: tuple[str, ...] | None = None  # subset of WORKLOADS; None: all
    warmup_s: float = 0.3         # per workload and worker, before the first block
    inject_slowdown: float = 0.0  # testing only: candidate spins this fraction longer per chunk
    restart_every: int = 2        # rounds per worker pair: whole-process effects become noise
    clock: str = "wall"           # "cpu": the worker thread's CPU time (interleave_driver.CLOCK_ENV)
    block_stat: str = "median"    # a block's sample: its chunks' median, or "p10" (their fastest tenth)

    def __post_init__(self) -> None:
        if self.rounds < 2:
            raise LinregError(f"--rounds must be >= 2, got {self.rounds}")
        if not 0.001 <= self.block_s <= 60:
            raise LinregError(f"--block-s must be in [0.001, 60], got {self.block_s}")
        if self.restart_every < 1:
            raise LinregError(f"--restart-every must be >= 1, got {self.restart_every}")
        if self.threads < 1:
            raise LinregError(f"--threads must be >= 1, got {self.threads}")
        if self.block_stat not in BLOCK_STATS:
            raise LinregError(f"--block-stat must be one of {', '.join(BLOCK_STATS)}, "
                              f"got {self.block_stat!r}")
        if self.clock not in CLOCKS:
            raise LinregError(f"--clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")
        unknown = [w for w in (self.workloads or ()) if w not in WORKLOADS]
        if unknown:
            raise LinregError(f"unknown workload {unknown[0]!r} (choose from {', '.join(WORKLOADS)})")
        if not 0.0 <= self.inject_slowdown < 10.0:
            raise LinregError(f"inject_slowdown must be in [0, 10), got {self.inject_slowdown}")

    @property
    def names(self) -> tuple[str, ...]:
        return self.workloads or tuple(WORKLOADS)


BLOCK_STATS = {"median": "time_s_per_call", "p10": "time_s_per_call_p10"}  # -> the driver's reply key


def _one_line(text: str) -> str:
    return (str(text).strip().splitlines() or ["?"])[0][:200]


@dataclass
class _Run:
    """What the interleaved run has gathered so far, per side ("base", "new") and workload."""

    sides: dict[str, Path]
    config: InterleaveConfig
    runnable: list[str]
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    faults: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)  # setup: absent, or failed
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    environment: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side in self.sides:
            self.samples[side] = {n: [] for n in self.runnable}
            self.faults[side] = {n: [] for n in self.runnable}
            self.skipped[side], self.calls[side] = {}, {}

    def fail(self, side: str, name: str, message: str) -> None:
        self.skipped[side][name] = f"failed: {_one_line(message)}"
        if name in self.runnable:
            self.runnable.remove(name)

    def set_up(self, workers: dict[str, Worker], start_order: tuple[str, str], segment: int,
               work_dir: Path) -> None:
        """Both workers set up at once; a workload either side lacks is dropped (or failed)."""
        request = {"cmd": "setup", "workloads": list(self.runnable), "warmup_s": self.config.warmup_s}
        for side in start_order:
            workers[side].send({**request, "work_dir": str(work_dir / side / f"seg{segment}")})
        for side in start_order:
            try:
                setup = workers[side].receive()
            except WorkerFailure as exc:
                if side == "base" or not exc.died:  # the baseline, or the harness itself
                    raise LinregError(f"benchmark worker for {self.sides[side]}: {exc.message}") from None
                for name in list(self.runnable):  # the candidate cannot even start: all fail
                    self.fail(side, name, exc.message)
                continue
            self.environment.setdefault(side, setup["environment"])
            for name, reason in setup["skipped"].items():
                if name not in self.runnable:
                    continue
                if segment == 0:
                    self.skipped[side][name] = reason
                    self.runnable.remove(name)
                else:  # ran in an earlier worker, not in this one: a failure, not an absence
                    self.fail(side, name, reason if reason.startswith("failed: ")
                              else f"could not set up in a restarted worker: {reason}")
            for name, n in setup["calls_per_chunk"].items():
                self.calls[side].setdefault(name, int(n))

    def measure_round(self, workers: dict[str, Worker], r: int, segment: int,
                      tick: Callable[[], None]) -> bool:
        """One round over every runnable workload, ABBA order; False when a worker died."""
        for i, name in enumerate(list(self.runnable)):
            order = ("base", "new") if (r + i + segment) % 2 == 0 else ("new", "base")
            for side in order:
                try:
                    reply = workers[side].ask(
                        {"cmd": "measure", "workload": name, "block_s": self.config.block_s})
                except WorkerFailure as exc:
                    self.fail(side, name, exc.message)
                    if exc.died:
                        tick()
                        return False
                    break
                self.samples[side][name].append(reply[BLOCK_STATS[self.config.block_stat]])
                self.faults[side][name].append(reply["minor_faults_per_call"])
            tick()
        return True


def measure_interleaved(
    base_tree: Path, new_tree: Path, config: InterleaveConfig, work_dir: Path,
    progress: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Time both trees in alternating blocks; return (base, new) results.json documents.

    A fresh worker pair is started every `config.restart_every` rounds (alternating which side
    starts first), so a process that happens to run slow for its whole life (1.4-2x) adds noise
    between samples instead of biasing one side. An exception in a workload, at setup or while
    measuring, is recorded as a failure of that side ("failed: Type: message"), which the
    comparison turns into a regression when it is NEW's; the workload is dropped from later rounds.
    """
    driver = work_dir / "linreg_interleave_driver.py"
    shutil.copyfile(Path(interleave_driver.__file__).resolve(), driver)  # alone: nothing else to import
    run = _Run({"base": base_tree, "new": new_tree}, config, list(config.names))
    rounds_done = segment = 0
    done = [0, config.rounds * len(run.runnable)]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], done[1])

    while rounds_done < config.rounds and run.runnable:
        start_order = ("base", "new") if segment % 2 == 0 else ("new", "base")
        workers: dict[str, Worker] = {}
        try:
            for side in start_order:
                inject = config.inject_slowdown if side == "new" else 0.0
                workers[side] = Worker(driver, run.sides[side], config.threads, inject,
                                       work_dir / f"{side}.{segment}.log", config.clock)
            run.set_up(workers, start_order, segment, work_dir)
            if segment == 0:
                done[1] = config.rounds * len(run.runnable)
            for r in range(rounds_done, min(rounds_done + config.restart_every, config.rounds)):
                if not run.measure_round(workers, r, segment, tick):
                    break  # a fresh pair redoes this round
                rounds_done += 1
        finally:
            for w in workers.values():
                w.close()
        segment += 1
    if "base" not in run.environment:
        raise LinregError(f"benchmark worker for {base_tree}: never started")
    run.environment.setdefault("new", run.environment["base"])
    return tuple(  # type: ignore[return-value]
        _results_doc(side, run.sides[side], run.environment[side], run.calls[side], run.skipped,
                     run.samples[side], run.faults[side], config, segment)
        for side in ("base", "new")
    )


def _results_doc(side: str, tree: Path, environment: dict[str, Any], calls: dict[str, int],
                 skipped: dict[str, dict[str, str]], samples: dict[str, list[float]],
                 faults: dict[str, list[float]], config: InterleaveConfig,
                 worker_pairs: int) -> dict[str, Any]:
    other = "new" if side == "base" else "base"
    measurements = []
    for name in config.names:
        spec = Spec(*WORKLOADS[name])
        reason = skipped[side].get(name)
        if reason is None and not samples[name]:
            reason = "not measured: the other side could not run it"
        if reason is not None:
            measurements.append(Measurement(spec, skip_reason=reason))
            continue
        f = sorted(faults[name])
        extra = {"interleaved": True, "block_s": config.block_s, "minor_faults_per_call": f[len(f) // 2]}
        if name in skipped[other]:
            extra["other_side"] = skipped[other][name]
        measurements.append(Measurement(
            spec, times_s=tuple(samples[name]), calls_per_sample=int(calls.get(name, 1)), extra=extra,
        ))
    env = dict(environment)
    env["git"] = {"commit": _git(tree, "rev-parse", "HEAD"),
                  "dirty": bool(_git(tree, "status", "--porcelain", "--untracked-files=no"))}
    env["tree"] = str(tree)
    cfg = {"mode": "interleaved", "side": side, "rounds": config.rounds, "block_s": config.block_s,
           "restart_every": config.restart_every, "worker_pairs": worker_pairs,
           "threads": config.threads, "workloads": list(config.names),
           "inject_slowdown": config.inject_slowdown if side == "new" else 0.0,
           # the driver's own small loop (interleave_driver.py): chunks >= 1 ms, the engine's GC policy
           "timing": {"chunk_min_s": 1e-3, "warmup_s": config.warmup_s, "gc": GC_POLICY,
                      "clock": config.clock, "block_stat": config.block_stat}}
    return build_results(env, cfg, {}, measurements)


def compare_revision(
    base_rev: str, config: InterleaveConfig, gate: MedianGate, save_dir: str | None = None,
    resamples: int = 2000, quiet: bool = False,
) -> Comparison:
    """Check out base_rev into a temporary worktree, measure it against this tree, compare."""
    root = repo_root()
    with base_worktree(base_rev) as (work_dir, base_tree):
        bar, progress = _progress_for(config)
        with bar:
            base_doc, new_doc = measure_interleaved(base_tree, root, config, work_dir,
                                                    None if quiet else progress)
    if save_dir:
        write_json_atomic(Path(save_dir) / "base.json", base_doc)
        write_json_atomic(Path(save_dir) / "new.json", new_doc)
    base_name = f"{base_rev}, interleaved"
    new_name = "working tree" + (" with uncommitted changes" if new_doc["environment"]["git"]["dirty"]
                                 else "") + ", interleaved"
    comparison = compare_files(results_bench_file(base_doc, base_name),
                               results_bench_file(new_doc, new_name), gate, resamples)
    return comparison


def _progress_for(config: InterleaveConfig) -> tuple[Progress, Callable[[int, int], None]]:
    """A bar on a terminal; elsewhere (a CI log) one line per finished round, never `\\r` updates."""
    bar = Progress(config.rounds * len(config.names), "interleaved blocks")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.done, "rounds x workloads")
        per_round = max(1, total // config.rounds)
        if not bar.enabled and done % per_round == 0:
            sys.stderr.write(f"compare: round {done // per_round}/{config.rounds} done "
                             f"({done}/{total} blocks)\n")
            sys.stderr.flush()
    return bar, progress
