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


def shared_jobs(jobs: list[dict[str, Any]], processes: int) -> list[dict[str, Any]]:
    """--quick: the jobs dealt round-robin into `processes` workers, each counting its parts in
    turn, so torch's import under valgrind (60-90 s) is paid once per worker, not per runtime.
    A count then also depends on the parts counted before it in that worker (caches, the
    dispatcher's state): `shared_with` records them, and the method differs from a full run's."""
    groups = [jobs[i::max(1, processes)] for i in range(min(max(1, processes), len(jobs)))]
    return [{"task": "instructions", "parts": group} for group in groups]


def _names(job: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(phase, name, size) of every count a (possibly shared) job makes."""
    return [("train_epoch" if p.get("variant") else "inference", p.get("variant") or p.get("runtime"), s)
            for p in job.get("parts") or [job] for s in p["sizes"]]


def _run_one(job: dict[str, Any], valgrind: str, timeout_s: float,
             memory_gib: float | None = None) -> dict[tuple, Any]:
    """{(phase, name, size): instruction record or a failure reason} of one valgrind worker."""
    with tempfile.TemporaryDirectory(prefix="linreg-callgrind-") as out_dir:
        try:
            final = run_worker({**job, "out_dir": out_dir}, lambda m: None, timeout_s=timeout_s,
                               prefix=tuple(callgrind_prefix(valgrind, out_dir)), env_extra=COUNT_ENV,
                               memory_gib=memory_gib)
        except RuntimeError as exc:  # a crash is a record, not a lost run
            return {key: f"instruction count failed: {exc}" for key in _names(job)}
    return {(r["phase"], r["runtime"], r["batch_size"]): r["instructions"]
            for r in final.get("instructions", [])}


def count_instructions(measurements: list[Measurement], artifacts: Artifacts | None,
                       processes: int = 1, timeout_s: float = 900.0,
                       progress: Callable[[str], None] | None = None,
                       memory_gib: float | None = None, shared: bool = False) -> list[Measurement]:
    """`measurements` with their instruction counts (or why not) in extra["instructions"].
    `shared` (--quick): `processes` valgrind workers in all, each counting several runtimes."""
    say = progress or (lambda text: None)
    planned, skips = plan_jobs(measurements, artifacts)
    jobs = shared_jobs(list(planned.values()), processes) if shared else list(planned.values())
    valgrind = valgrind_path()
    counted: dict[tuple, Any] = {}
    method: dict[str, Any] = {"tool": "callgrind", "threads": 1,
                              "python_hash_seed": COUNT_ENV["PYTHONHASHSEED"],
                              "workers": "shared by runtimes (--quick)" if shared else "one per runtime or variant"}
    if valgrind is None:
        counted = {key: VALGRIND_MISSING for job in jobs for key in _names(job)}
    else:
        method["valgrind"] = valgrind_version(valgrind)
        say(f"instructions: {len(jobs)} valgrind worker(s), {processes} at a time")
        with ThreadPoolExecutor(max_workers=max(1, processes)) as pool:
            for part in pool.map(lambda job: _run_one(job, valgrind, timeout_s, memory_gib), jobs):
                counted.update(part)
    if shared:  # which counts shared a process, in order: part of what a shared count means
        for job in jobs:
            order = list(dict.fromkeys(f"{p}/{n}" for p, n, _ in _names(job)))
            for key in _names(job):
                if isinstance(counted.get(key), dict):
                    counted[key] = {**counted[key], "shared_with": order}
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
