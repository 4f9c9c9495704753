"""Run a sweep's missing trials in worker processes, --jobs at a time; keep each as it finishes.

Where the wall time goes (24 tutorial trials on 2 cores, results/sweep-jobs/): the trials
themselves are a few seconds, so fixed costs decide whether a second job helps. The pool is
therefore started once and kept, forked with torch already imported (start_method), and its
workers run trial after trial; the longest trials go first (so no worker is left with a long
one at the end); and the sweep's closing work (its three plots, publishing the best model from
its record, not trained again) runs on the same workers in parallel.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any, Callable

from bench.experiments.spec import SweepSpec, trial_configs, trial_id
from bench.experiments.store import finished_trials, prepare, save_trial
from bench.experiments.timeline import Timeline
from bench.experiments.trial import ranking_key, run_trial, start_worker
from linreg.errors import LinregError
from linreg.progress import Progress

Job = tuple[str, dict[str, Any], float]
DEFAULT_TRIAL_TIMEOUT_S = 3600.0   # the tutorial's trials take seconds; 10^4 epochs of 10^6 rows, minutes
MAX_TRIAL_TIMEOUT_S = 7 * 86400.0


class SweepTimeout(LinregError):
    """No trial (or closing task) finished within the time bound: the sweep is stopped."""


def _note(best: dict[str, Any] | None, done: int, total: int, started: float, ran: int) -> str:
    elapsed = time.monotonic() - started
    eta = elapsed / ran * (total - done) if ran else float("nan")
    best_text = (f"best test loss {best['final_test_loss']:.4g} ({best['id'][:8]})"
                 if best and best.get("status") == "ok" else "no finished trial yet")
    return f"{best_text}, ETA {eta:.0f}s"


def trial_cost(config: dict[str, Any]) -> int:
    """Work of a trial, for ordering only: epochs x samples (50 is the tutorial's data)."""
    return int(config["epochs"]) * int(config["n"] or 50)


def start_method() -> str:
    """fork where it is safe, else spawn.

    A spawned worker is a fresh interpreter that imports torch itself: about 1.5 s on the 2-core
    machine, a third of the tutorial sweep's trial work. This process has imported torch but run
    no torch op (no OpenMP pool, no CUDA context yet), so a forked worker starts exactly where a
    spawned one would after its import. Each trial seeds torch and pins its own thread count, and
    the bit-identity test with `train` holds either way. Once CUDA is initialised here (a caller
    that trained in-process), fork would break it in the children: spawn then."""
    if "fork" not in multiprocessing.get_all_start_methods() or sys.platform != "linux":
        return "spawn"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "spawn"
    return "fork"


def open_pool(jobs: int, memory_gib: float | None = None) -> Pool:
    """`jobs` worker processes that live for the whole sweep; each pins one thread before any
    trial (start_worker; TrainConfig pins the trial's own count), so two never fight over cores.

    torch._dynamo is imported by each worker (start_worker), not here before forking: once it is
    loaded, this process's exit takes about a second longer (module teardown), and that second
    would be serial; in the workers the imports run side by side and end with a SIGTERM."""
    return multiprocessing.get_context(start_method()).Pool(jobs, start_worker, (memory_gib,))


class Sweep:
    """The trials of one sweep folder: which are done, which still run, on one pool."""

    def __init__(self, spec: SweepSpec, out: Path, restart: bool = False) -> None:
        prepare(out, spec, restart)
        self.spec, self.out = spec, out
        self.configs = {trial_id(c): c for c in trial_configs(spec)}
        self.records = finished_trials(out, self.configs)
        todo = [(tid, c, spec.target_test_loss) for tid, c in self.configs.items() if tid not in self.records]
        # longest first: the last trials to finish are short ones, so the workers end together
        self.todo: list[Job] = sorted(todo, key=lambda job: -trial_cost(job[1]))

    def run(self, pool: Pool, timeline: Timeline, timeout_s: float = DEFAULT_TRIAL_TIMEOUT_S) -> list[dict[str, Any]]:
        """Every trial's record in trial order; finished ones are reused, the missing ones run now.
        SweepTimeout when no trial finishes within `timeout_s` (a hung trial; the done are kept)."""
        records, total = self.records, len(self.configs)
        if records:
            sys.stderr.write(f"resuming: {len(records)} of {total} trials already finished\n")
        started = time.monotonic()
        best = min(records.values(), key=ranking_key, default=None)
        interactive = sys.stderr.isatty()
        with Progress(total, "sweep", enabled=interactive) as bar:
            bar.done = len(records)
            for ran, record in enumerate(_bounded(pool.imap_unordered(run_trial, self.todo), timeout_s), start=1):
                timeline.arrived(record)
                save_trial(self.out, record)
                records[record["id"]] = record
                best = min(records.values(), key=ranking_key)
                note = _note(best, len(records), total, started, ran)
                bar.update(1, note)
                if not interactive:
                    sys.stderr.write(f"sweep: {len(records)}/{total} trials, {note}\n")
        return [records[tid] for tid in self.configs]


def _bounded(results: Any, timeout_s: float) -> Any:
    """The results of an imap, each waited for at most `timeout_s` (multiprocessing's own timeout)."""
    while True:
        try:
            yield results.next(timeout_s)
        except StopIteration:
            return
        except multiprocessing.TimeoutError:
            raise SweepTimeout(f"no trial finished within {timeout_s:g} s (--trial-timeout-s): the sweep "
                               f"was stopped; finished trials are kept (run it again to resume)") from None


def run_on_pool(jobs: int, work: Callable[[Pool], Any], memory_gib: float | None = None) -> Any:
    """work(pool) on a fresh pool; the pool never outlives it (Ctrl-C, an error: terminated)."""
    pool = open_pool(jobs, memory_gib)
    try:
        result = work(pool)
        pool.close()
        return result
    finally:
        pool.terminate()
        pool.join()


def wait_all(tasks: list[AsyncResult], timeout_s: float = DEFAULT_TRIAL_TIMEOUT_S) -> None:
    """Wait for every task; the first failure is raised (as it was raised in the worker)."""
    for task in tasks:
        try:
            task.get(timeout_s)
        except multiprocessing.TimeoutError:
            raise SweepTimeout(f"a closing task (plot, best/) did not finish within {timeout_s:g} s "
                               f"(--trial-timeout-s)") from None
