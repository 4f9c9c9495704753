"""The companion follows the workload's CPU: the reference must see the vCPU the workload ran on.

The companion's reference block runs while the worker is stopped (bench/engine/companion.py), so
the two never need two CPUs at once. Left to the scheduler, they land on different vCPUs, and on
a VM two vCPUs are two host threads with different neighbours: the reference then tracks the
wrong CPU's slow phases. Measured on an idle 2-vCPU VM (train_epoch at N=40 and eager at batch
1, 18 draws each): the max/min of the draws' workload/reference ratios was 1.14-1.36 with both
on one CPU against 1.84-2.72 apart, while the draws' own times moved alike (1.7-1.9x) both ways.

Pinning the worker to that CPU (commit 8f5fb7f) changed what was measured: the kernel then
kept the process's other threads off the measured thread's CPU, and a regression made of
competing threads read 1.07x for a true 1.15x (results/regressions). So the worker is left
alone, and before each reference block the companion moves to the CPU the worker's main thread
last ran on (/proc/PID/stat, field 39). Each block's CPU is recorded with the reference.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Iterator

PROCESSOR_FIELD = 39  # /proc/PID/stat: the CPU the task last ran on (proc(5))


def stat_fields(path: str) -> list[bytes]:
    """The fields of a /proc stat file from field 3 (the state) on: what follows "(comm)", which
    may itself hold spaces and parentheses. [] when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def last_cpu(pid: int) -> int | None:
    """The CPU `pid`'s main thread last ran on, or None where /proc cannot tell."""
    fields = stat_fields(f"/proc/{pid}/stat")
    try:
        return int(fields[PROCESSOR_FIELD - 3])
    except (IndexError, ValueError):
        return None


def follow(pid: int) -> int | None:
    """Move this process to the CPU `pid` last ran on (when allowed); the CPU it runs on now,
    or None where that cannot be known or set (not Linux, a restricted container)."""
    cpu = last_cpu(pid)
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        if os.sched_getaffinity(0) != {cpu}:
            os.sched_setaffinity(0, {cpu})
    except OSError:  # outside the allowed set, or not permitted: where the scheduler put it
        return None
    return cpu


STOP_WAIT_S = 0.05  # a stopped process shows state T within microseconds; never wait longer


@contextlib.contextmanager
def worker_stopped(pid: int) -> Iterator[None]:
    """The worker process, ALL its threads, stopped while the reference block runs.

    Waiting on the pipe, the worker's main thread is idle, but its other threads are not: a
    thread that spins or holds the GIL (telemetry, a thread pool) would take the CPU from the
    reference, and the ratio would cancel the regression it is. SIGSTOP freezes them; SIGCONT
    always follows (the companion is the worker's child: if it dies, the worker's own
    timeout still ends the job)."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:  # not ours to stop (or gone): time the block anyway
        yield
        return
    try:
        deadline = time.monotonic() + STOP_WAIT_S
        while not all_stopped(pid) and time.monotonic() < deadline:
            pass
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def all_stopped(pid: int) -> bool:
    """Whether every thread of `pid` shows state T (a group stop reaches each thread on its own
    schedule: a spinning thread can still run for a moment after the main thread stopped).
    True when /proc cannot tell (not Linux, or gone): nothing to wait for then."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    return all(_state(f"/proc/{pid}/task/{tid}/stat") in ("T", "t", "") for tid in tasks)


def _state(path: str) -> str:
    """The state letter of a /proc stat file ("" when it cannot be read)."""
    fields = stat_fields(path)
    return fields[0].decode() if fields else ""
