"""Run a sweep's missing trials in worker processes, --jobs at a time; keep each as it finishes."""
from __future__ import annotations

import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from bench.experiments.spec import SweepSpec, trial_configs, trial_id
from bench.experiments.store import finished_trials, prepare, save_trial
from bench.experiments.trial import ignore_sigint, ranking_key, run_trial
from linreg.progress import Progress


def _note(best: dict[str, Any] | None, done: int, total: int, started: float, ran: int) -> str:
    elapsed = time.monotonic() - started
    eta = elapsed / ran * (total - done) if ran else float("nan")
    best_text = (f"best test loss {best['final_test_loss']:.4g} ({best['id'][:8]})"
                 if best and best.get("status") == "ok" else "no finished trial yet")
    return f"{best_text}, ETA {eta:.0f}s"


def run_trials(spec: SweepSpec, out: Path, jobs: int, restart: bool = False) -> list[dict[str, Any]]:
    """Every trial's record in trial order; finished ones are reused, the missing ones run now."""
    prepare(out, spec, restart)
    configs = {trial_id(c): c for c in trial_configs(spec)}
    records = finished_trials(out, configs)
    todo = [(tid, c, spec.target_test_loss) for tid, c in configs.items() if tid not in records]
    if records:
        sys.stderr.write(f"resuming: {len(records)} of {len(configs)} trials already finished\n")
    started = time.monotonic()
    best = min(records.values(), key=ranking_key, default=None)
    interactive = sys.stderr.isatty()
    with Progress(len(configs), "sweep", enabled=interactive) as bar:
        bar.done = len(records)
        if todo:
            # spawn: a fresh interpreter per worker, so no torch state is inherited from this one.
            pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(todo)), ignore_sigint)
            try:
                for ran, record in enumerate(pool.imap_unordered(run_trial, todo), start=1):
                    save_trial(out, record)
                    records[record["id"]] = record
                    best = min(records.values(), key=ranking_key)
                    note = _note(best, len(records), len(configs), started, ran)
                    bar.update(1, note)
                    if not interactive:
                        sys.stderr.write(f"sweep: {len(records)}/{len(configs)} trials, {note}\n")
                pool.close()
            finally:
                pool.terminate()  # Ctrl-C or an error: no worker outlives the sweep
                pool.join()
    return [records[tid] for tid in configs]
