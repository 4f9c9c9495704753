"""The instruction-count pass of `bench --metric instructions`: after the timed suite, one worker
under Callgrind per runtime and training variant counts every size it timed on the CPU.

The counts join each timed measurement beside its wall time (`instructions_per_call` and the
`instructions` object, bench/store/schema.py v3), so `compare` and `history` can pick either
metric and never mix them. Why a second pass rather than counting in the timing worker: valgrind
slows everything ~50x, and the wall time must be measured without it.

Cost (2 busy vCPUs): each valgrind worker spends 60-90 s importing torch (and numpy, onnxruntime)
under valgrind, then seconds counting its sizes. Counts do not depend on the host's load, so
`instruction_processes` workers may run at once without changing a number.
"""
from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable

from bench.engine.callgrind import (VALGRIND_MISSING, callgrind_prefix, median_per_call,
                                    nondeterminism_warning, valgrind_path, valgrind_version)
from bench.engine.measurement import Measurement
from bench.runtimes import runtime_entry
from bench.runtimes.base import Artifacts
from bench.training import variant_entry
from bench.worker import run_worker

METRICS = ("time", "instructions")  # time: the timed suite alone | instructions: and the counts
COMPILED_SKIP = "not counted: torch.compile and graph capture under valgrind take minutes per size"
NOT_CPU_SKIP = "not counted: Callgrind sees the CPU's instructions only, not the device's work"
# One thread everywhere: a pool's spinning threads would be counted as the workload's work. A
# fixed hash seed: with Python's per-process random one, dict and set lookups probe differently
# in every process, and separate runs of the same code differed by up to 1.9% (eager, batch 1).
COUNT_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
             "PYTHONHASHSEED": "0"}

Key = tuple[str, str]  # (phase, runtime or variant)


def _countable(m: Measurement) -> bool:
    """A timed CPU measurement under its bare name (not eager-t2, not ddp-ws2)."""
    return not m.skipped and m.spec.runtime_label == m.spec.runtime


def _compiled(phase: str, name: str) -> bool:
    entry = variant_entry(name) if phase == "train_epoch" else runtime_entry(name)
    return bool(entry.compiled)


def plan_jobs(measurements: list[Measurement],
              artifacts: Artifacts | None) -> tuple[dict[Key, dict], dict[int, str]]:
    """({(phase, name): worker job}, {index of a measurement: why it is not counted})."""
    jobs: dict[Key, dict[str, Any]] = {}
    skips: dict[int, str] = {}
    for i, m in enumerate(measurements):
        if not _countable(m):
            continue
        if m.spec.device != "cpu":
            skips[i] = NOT_CPU_SKIP
        elif _compiled(m.spec.phase, m.spec.runtime):
            skips[i] = COMPILED_SKIP
        else:
            key = (m.spec.phase, m.spec.runtime)
            name = "variant" if m.spec.phase == "train_epoch" else "runtime"
            job = jobs.setdefault(key, {"task": "instructions", name: m.spec.runtime, "sizes": [],
                                        "artifacts": artifacts.to_json() if artifacts else None})
            if m.spec.batch_size not in job["sizes"]:
                job["sizes"].append(m.spec.batch_size)
    return jobs, skips


def _run_one(job: dict[str, Any], valgrind: str, timeout_s: float,
             memory_gib: float | None = None) -> dict[tuple, Any]:
    """{(phase, name, size): instruction record or a failure reason} of one valgrind worker."""
    name = job.get("variant") or job.get("runtime")
    phase = "train_epoch" if job.get("variant") else "inference"
    with tempfile.TemporaryDirectory(prefix="linreg-callgrind-") as out_dir:
        try:
            final = run_worker({**job, "out_dir": out_dir}, lambda m: None, timeout_s=timeout_s,
                               prefix=tuple(callgrind_prefix(valgrind, out_dir)), env_extra=COUNT_ENV,
                               memory_gib=memory_gib)
        except RuntimeError as exc:  # a crash is a record, not a lost run
            return {(phase, name, s): f"instruction count failed: {exc}" for s in job["sizes"]}
    return {(r["phase"], r["runtime"], r["batch_size"]): r["instructions"]
            for r in final.get("instructions", [])}


def count_instructions(measurements: list[Measurement], artifacts: Artifacts | None,
                       processes: int = 1, timeout_s: float = 900.0,
                       progress: Callable[[str], None] | None = None,
                       memory_gib: float | None = None) -> list[Measurement]:
    """`measurements` with their instruction counts (or why not) in extra["instructions"]."""
    say = progress or (lambda text: None)
    jobs, skips = plan_jobs(measurements, artifacts)
    valgrind = valgrind_path()
    counted: dict[tuple, Any] = {}
    method: dict[str, Any] = {"tool": "callgrind", "threads": 1,
                              "python_hash_seed": COUNT_ENV["PYTHONHASHSEED"]}
    if valgrind is None:
        counted = {(p, n, s): VALGRIND_MISSING for (p, n), job in jobs.items() for s in job["sizes"]}
    else:
        method["valgrind"] = valgrind_version(valgrind)
        say(f"instructions: {len(jobs)} valgrind worker(s), {processes} at a time")
        with ThreadPoolExecutor(max_workers=max(1, processes)) as pool:
            for part in pool.map(lambda job: _run_one(job, valgrind, timeout_s, memory_gib), jobs.values()):
                counted.update(part)
    return [_attach(m, skips.get(i) or counted.get((m.spec.phase, m.spec.runtime, m.spec.batch_size)),
                    method) if _countable(m) else m
            for i, m in enumerate(measurements)]


def _attach(m: Measurement, record: Any, method: dict[str, Any]) -> Measurement:
    if not isinstance(record, dict):
        reason = record if isinstance(record, str) else "instruction count missing from its worker"
        return replace(m, extra={**m.extra, "instructions": {"skip_reason": reason, **method}})
    record = {**record, **method}
    warning = nondeterminism_warning(record)
    return replace(m, warnings=m.warnings + ((warning,) if warning else ()),
                   extra={**m.extra, "instructions_per_call": median_per_call(record),
                          "instructions": record})
