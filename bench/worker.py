"""A worker process per runtime: `python -m bench.worker` reads one JSON job on stdin and writes
one JSON line per finished measurement on stdout, then a final {"done": ...} line.

Why a process: ORT's intra-op pool slows torch in the same process, the allocator's state left
by runtime A changes runtime B's numbers at large sizes (bench/engine/allocator.py), and glibc's malloc reads
its MALLOC_* settings only at process start. pyperf does the same (its _worker.py).

Protocol (all JSON, one object per stdout line):
  job   (stdin):  {"task": "inference" | "training" | "floors" | "interference", ...}
  lines (stdout): {"measurement": Measurement.to_dict()} ... then
                  {"done": true, "floors": {...}, "ladder": {...}, "interference": {...}, "process": {...}}
                  or {"done": false, "error": "one line"}
Anything else a library prints goes to stderr: stdout is reserved for the protocol.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from bench.engine.allocator import ALLOCATOR_ENV
from bench.engine.measurement import Measurement
from linreg.errors import exception_line
from linreg.lifetime import child_environment, die_with_parent
from linreg.limits import apply_from_environment, bound_text, child_memory_environment, is_out_of_memory


def allocator_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The MALLOC_* variables in effect (what results.json records as `allocator`)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items()) if k.startswith("MALLOC_")}


def worker_environment(cache_dir: str | None = None) -> dict[str, str]:
    """The environment a worker starts with: ours, plus the allocator settings, the caches, and
    this checkout first on PYTHONPATH (a worker imports the same bench as its parent)."""
    env = dict(os.environ)
    env.update(ALLOCATOR_ENV)
    if cache_dir:
        env.setdefault("TORCHINDUCTOR_CACHE_DIR", cache_dir)
    env["PYTHONUNBUFFERED"] = "1"
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_job(job: dict[str, Any], emit: Callable[[Measurement], None] | None = None) -> dict[str, Any]:
    """Run one job in this process; every finished Measurement is passed to `emit`."""
    if needs_companion(job, forked=False):
        from bench.engine.companion import shared_companion

        shared_companion()  # the host-state reference starts now: it imports while we set up
    from bench.engine.timing import TimingConfig
    from bench.runtimes.base import Artifacts
    from bench.runtimes.measure import measure_inference
    from bench.runtimes.ort import probe_ort_interference
    from bench.training.measure import measure_training

    task = job["task"]
    if task == "instructions":  # under valgrind: bench/instructions.py starts this worker
        return _count_instructions(job)
    threads = int(job.get("threads", 1))
    timing = TimingConfig(**job.get("timing", {}))
    # {device: {str(size): floor}} (bench.engine.floors.floors_by_size); none: no efficiency
    floors: dict[str, Any] = job.get("floors_bytes_per_s") or {}
    out: dict[str, Any] = {}
    if task == "floors":
        from bench.engine.floors import measure_floors

        out["floors"] = measure_floors(threads, timing, job.get("copy_bytes", 400_000_000),
                                       job.get("devices", ()), job.get("sizes", ()))
        if job.get("ladder"):  # the references on one scale (bench/engine/ladder.py)
            from bench.engine.ladder import measure_ladder

            out["ladder"] = measure_ladder(threads, timing, int(job["ladder"]))
        probe = job.get("interference")  # the ORT probe rides along: one worker start fewer
        if probe:
            out["interference"] = [probe_ort_interference(
                Artifacts.from_json(probe["artifacts"]), t, probe.get("batch", 100_000),
                probe.get("calls", 300)) for t in probe["probe_threads"]]
    elif task == "inference":
        artifacts = Artifacts.from_json(job["artifacts"])
        for device in job["devices"]:
            measure_inference(job["runtime"], device, job["sizes"], artifacts, threads, timing,
                              job.get("skip_reason"), floors.get(device), emit)
    elif task == "training":
        for device in job["devices"]:
            measure_training(job["variant"], device, job["sizes"], threads, timing,
                             job.get("parity_epochs", 10), job.get("skip_reason"),
                             floors.get(device), emit)
    else:
        raise ValueError(f"unknown worker task {task!r}")
    import torch

    out["process"] = {"pid": os.getpid(), "allocator": allocator_settings(),
                      "torch_threads": torch.get_num_threads()}
    return out


def needs_companion(job: dict[str, Any], forked: bool) -> bool:
    """Whether the job times against a companion, started before the job runs anything: a CPU
    measurement with the reference on; the floors' reference ladder only where the companion is
    `forked` (bench/engine/companion_fork.py: in milliseconds), since a fresh one importing beside
    the floors' bandwidth would disturb it (the ladder then starts its own)."""
    if job.get("task") == "floors":
        return bool(job.get("ladder")) and forked
    return (job.get("task") in ("inference", "training") and bool((job.get("timing") or {}).get("reference"))
            and "cpu" in job.get("devices", ()) and not job.get("skip_reason"))


def _count_instructions(job: dict[str, Any]) -> dict[str, Any]:
    """Instructions per call of one runtime or variant at every size, on the CPU, one thread;
    a job with `parts` counts each part in turn in this one process (--quick's shared workers)."""
    from bench.engine.callgrind import Collector

    collector = Collector(job["out_dir"])
    records: list[dict[str, Any]] = []
    for part in job.get("parts") or [job]:
        if part.get("variant"):
            from bench.training.measure import count_training

            records += count_training(part["variant"], part["sizes"], collector)
        else:
            from bench.runtimes.base import Artifacts
            from bench.runtimes.measure import count_inference

            records += count_inference(part["runtime"], part["sizes"], Artifacts.from_json(part["artifacts"]),
                                       collector)
    return {"instructions": records, "process": {"pid": os.getpid()}}


class WorkerTimeout(RuntimeError):
    """A worker ran past its time limit and was killed."""


def run_worker(job: dict[str, Any], emit: Callable[[Measurement], None],
               cache_dir: str | None = None, timeout_s: float | None = None,
               prefix: tuple[str, ...] = (), env_extra: dict[str, str] | None = None,
               memory_gib: float | None = None) -> dict[str, Any]:
    """Run one job in a fresh `python -m bench.worker`; measurements stream back through `emit`.

    `prefix` goes in front of python (valgrind, for instruction counts). A worker still running
    after `timeout_s` is killed: WorkerTimeout("worker timed out after N s"). `memory_gib` bounds
    its private memory (linreg/limits.py; the worker applies it before importing torch).
    """
    env = child_environment({**worker_environment(cache_dir), **(env_extra or {})})  # for die_with_parent
    if memory_gib:
        env = child_memory_environment(memory_gib, env)
    with tempfile.TemporaryFile(mode="w+") as errors, subprocess.Popen(
        [*prefix, sys.executable, "-m", "bench.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=errors, text=True, env=env,
    ) as proc:  # the context closes the pipes and waits for the process
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()  # its stdout closes: the loop below ends

        watchdog = threading.Timer(timeout_s, kill) if timeout_s else None
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        try:
            final = read_messages(proc.stdout, emit)
            proc.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if timed_out.is_set():
            raise WorkerTimeout(f"worker timed out after {timeout_s:g} s")
        errors.seek(0)
        return checked_final(job, final, proc.returncode, errors.read(), memory_gib)


def read_messages(lines: Iterable[str | bytes], emit: Callable[[Measurement], None]) -> dict[str, Any] | None:
    """The protocol's reading side: every measurement to `emit`; the final {"done": ...} returned."""
    final = None
    for line in lines:
        msg = json.loads(line)
        if "measurement" in msg:
            emit(Measurement.from_dict(msg["measurement"]))
        elif "done" in msg:
            final = msg
    return final


def checked_final(job: dict[str, Any], final: dict[str, Any] | None, exit_code: int | None,
                  output: str, memory_gib: float | None = None) -> dict[str, Any]:
    """The worker's final message, or a RuntimeError naming the worker and why: its own error
    line, or its exit code and the last line it wrote."""
    if final is None or not final.get("done"):
        tail = output.strip().splitlines()[-1:] or ["no output"]
        reason = final.get("error") if final else f"exit code {exit_code}: {tail[0]}"
        if not final and exit_code is not None and exit_code < 0 and memory_gib:
            # killed by a signal: native code that met a failed allocation may abort or crash
            reason += f"; it may have run into {bound_text(memory_gib)}"
        raise RuntimeError(f"worker for {job.get('runtime') or job.get('variant') or job['task']} "
                           f"failed ({reason})")
    return final


def failure_line(exc: BaseException) -> str:
    """A worker's failure as one line; an allocation failure names the bound it ran under."""
    line = f"{type(exc).__name__}: {exception_line(exc, 300)}"
    if is_out_of_memory(exc):
        return f"out of memory under {bound_text()}: {line}"
    return line


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    protocol = stdout
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the protocol

    def send(obj: dict[str, Any]) -> None:
        protocol.write(json.dumps(obj) + "\n")
        protocol.flush()

    die_with_parent()  # kill -9 of bench must not leave a worker measuring on under PID 1
    apply_from_environment()  # before torch: the bound covers everything the worker maps
    try:
        job = json.loads(stdin.read())
        result = run_job(job, lambda m: send({"measurement": m.to_dict()}))
        send({"done": True, **result})
        return 0
    except Exception as exc:  # reported to the parent as one line; it decides what to show
        import traceback

        traceback.print_exc(file=sys.stderr)
        send({"done": False, "error": failure_line(exc)})
        return 1
    finally:
        sys.stdout = protocol


if __name__ == "__main__":
    sys.exit(main())
