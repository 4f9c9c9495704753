"""How a run executes its jobs, by `isolation` (SuiteConfig, --isolation)."""
from __future__ import annotations

import sys
from typing import Any, Callable

from bench.engine.measurement import Measurement, Spec
from bench.engine.timing import skipped
from bench.forked import run_forked
from bench.worker import WorkerTimeout, run_job, run_worker

Execute = Callable[[dict[str, Any], Callable[[Measurement], None]], dict[str, Any]]


def executor(isolation: str, cache_dir: str | None = None, timeout_s: float | None = None,
             memory_gib: float | None = None) -> Execute:
    """"runtime": a fresh worker process each (bench/worker.py); "fork": a worker forked from a
    preloaded server (bench/forked.py); "none": in this process (no bound: it is ours). Each
    worker runs under `timeout_s` and `memory_gib` (linreg/limits.py)."""
    if isolation == "none":
        return lambda job, emit: run_job(job, emit)
    if isolation == "fork":
        return lambda job, emit: run_forked(job, emit, cache_dir, timeout_s, memory_gib)
    return lambda job, emit: run_worker(job, emit, cache_dir, timeout_s, memory_gib=memory_gib)


def execute_or_skip(job: dict[str, Any], execute: Callable[..., dict[str, Any]],
                     keep: Callable[[Measurement], None]) -> None:
    """Run one worker job; a crashed worker's missing records become skips that say why, loudly."""
    done: set[tuple] = set()

    def emit(m: Measurement) -> None:
        done.add(m.spec.key)
        keep(m)
    try:
        execute(job, emit)
    except RuntimeError as exc:
        sys.stderr.write(f"warning: {exc}\n")
        reason = str(exc) if isinstance(exc, WorkerTimeout) else f"worker failed: {exc}"
        phase = "train_epoch" if job["task"] == "training" else "inference"
        name = job.get("variant") or job.get("runtime")
        for device in job["devices"]:
            for size in job["sizes"]:
                spec = Spec(phase, name, device, size, threads=job["threads"])
                if spec.key not in done:
                    keep(skipped(spec, reason))
