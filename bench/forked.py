"""Workers forked from one preloaded server process: `isolation = "fork"` (the default).

A fresh `python -m bench.worker` (bench/worker.py) spends ~2.5 s of its life importing torch,
numpy, onnx and onnxruntime before it measures anything, and its fresh companion as long again.
Here one server process (multiprocessing's forkserver) imports all of that once, with the
workers' environment (the allocator settings glibc reads at process start, the inductor cache),
and each worker is a fork of it: a separate process as before (ORT's pool and the allocator's
state stay in it, it can crash or time out alone), started in milliseconds. Before its job runs
anything, the worker forks its companion (bench/engine/companion_fork.py). The issue-9
configuration (5 measurements, 3 processes each) took 36 s a run this way against 66 s with
fresh interpreters, alternating on one VM (results/fork-isolation); with 6 processes each (the
default since) and torch._dynamo preloaded, 41.5 s (results/processes-six).

What it gives up: every forked worker inherits the server's address-space layout (pyperf's
reason for fresh interpreters). The buffers' layout is drawn again for every draw regardless
(bench/engine/layout.py); `isolation = "runtime"` keeps fresh interpreters. The isolation is
recorded in results.json's config either way.

The protocol is bench/worker.py's, JSON for JSON (so a result reads the same whichever way it was
made): one message per finished measurement, then {"done": ...}, over a pipe instead of stdout.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator

from bench.engine.measurement import Measurement
from bench.worker import (WorkerTimeout, checked_final, failure_line, needs_companion, read_messages, run_job,
                          worker_environment)
from linreg.lifetime import die_with_parent
from linreg.limits import MEMORY_ENV, limit_memory

# what a worker imports before it measures (the server imports them once). No torch op runs in the
# server, so no OpenMP pool, CUDA context or thread exists to be broken by fork. torch._dynamo:
# torch.optim's first call imports it, ~2 s in each training worker process otherwise
PRELOAD = ("numpy", "torch", "torch._dynamo", "onnx", "onnxruntime", "bench.runtimes.measure",
           "bench.runtimes.ort", "bench.training.measure", "bench.engine.floors", "bench.engine.reference")
_started: dict[str, Any] = {}


def missing_preloads() -> list[str]:
    """The PRELOAD modules this process has not imported (in a forked worker: none)."""
    return [name for name in PRELOAD if name not in sys.modules]


def can_fork_workers() -> bool:
    """Whether this platform has multiprocessing's forkserver (Linux and macOS; not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def fork_context(cache_dir: str | None = None) -> Any:
    """The forkserver context, its server started once per process with the workers' environment
    (set in os.environ only while the server starts: this process's own settings stay as they were)."""
    ctx = multiprocessing.get_context("forkserver")
    if _started.get("pid") == os.getpid():
        return ctx
    from multiprocessing import forkserver

    env = worker_environment(cache_dir)
    saved = dict(os.environ)
    ctx.set_forkserver_preload(list(PRELOAD))
    # The server starts with SIGINT ignored, and keeps it so (as do its workers): a Ctrl-C while
    # it imports torch was its traceback; this process handles the interrupt and kills the workers.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        os.environ.update(env)
        forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    _started["pid"] = os.getpid()
    return ctx


def _child(job: dict[str, Any], conn: Connection, errors: str, memory_gib: float | None = None) -> None:
    """The forked worker: run_job, every message one JSON text (as bench.worker prints them).
    Its stdout and stderr (libraries' chatter, a traceback) go to the file `errors`, as a fresh
    worker's stderr goes to a temporary file: the parent shows one line of it, on failure only."""
    die_with_parent()  # the server's child: it ends with the server, which ends with this run
    if memory_gib and limit_memory(memory_gib):  # this worker only: the server stays unbounded
        os.environ[MEMORY_ENV] = f"{memory_gib:g}"
    fd = os.open(errors, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)

    def send(obj: dict[str, Any]) -> None:
        conn.send_bytes(json.dumps(obj).encode())
    try:
        if needs_companion(job, forked=True):  # nothing has run here yet: a fork is a clean companion
            from bench.engine.companion import shared_companion

            shared_companion(fork=True)
        result = run_job(job, lambda m: send({"measurement": m.to_dict()}))
        send({"done": True, **result})
    except Exception as exc:  # reported to the parent as one line; it decides what to show
        import traceback

        traceback.print_exc(file=sys.stderr)
        send({"done": False, "error": failure_line(exc)})
    finally:
        conn.close()


def _read_and_remove(path: str) -> str:
    """What a worker wrote to its output file (removed)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def run_forked(job: dict[str, Any], emit: Callable[[Measurement], None],
               cache_dir: str | None = None, timeout_s: float | None = None,
               memory_gib: float | None = None) -> dict[str, Any]:
    """Run one job in a worker forked from the preloaded server; bench.worker.run_worker's contract
    (measurements stream through `emit`; WorkerTimeout; RuntimeError naming the worker; the bound)."""
    ctx = fork_context(cache_dir)
    receive, send = ctx.Pipe(duplex=False)
    errors_fd, errors = tempfile.mkstemp(prefix="linreg-bench-worker-", suffix=".log")
    os.close(errors_fd)
    proc = ctx.Process(target=_child, args=(job, send, errors, memory_gib),
                       name=f"bench-{job.get('runtime') or job['task']}")
    proc.start()
    send.close()  # ours: the child holds its own end, so its exit is our EOF
    deadline = time.monotonic() + timeout_s if timeout_s else None

    def messages() -> Iterator[bytes]:  # until the worker's exit closes the pipe, or the deadline
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not receive.poll(wait):
                raise WorkerTimeout(f"worker timed out after {timeout_s:g} s")
            try:
                yield receive.recv_bytes()
            except EOFError:
                return
    try:
        final = read_messages(messages(), emit)
        proc.join()
    finally:
        if proc.is_alive():  # timed out, or this process was interrupted: the worker goes too
            proc.kill()
            proc.join()
        receive.close()
        output = _read_and_remove(errors)
    return checked_final(job, final, proc.exitcode, output, memory_gib)
