"""How a run executes its jobs, by `isolation` (SuiteConfig, --isolation)."""
from __future__ import annotations

from typing import Any, Callable

from bench.engine.measurement import Measurement
from bench.forked import run_forked
from bench.worker import run_job, run_worker

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
