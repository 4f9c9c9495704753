"""A companion forked from its worker: the same clean reference process, without its imports.

A fresh companion (`python -m bench.engine.companion`) spends ~2.5 s importing torch and
onnxruntime, and a worker waits for it before its first block: with forked workers and fresh
companions the issue-9 configuration took 50-53 s a run on the AMD VM, with forked companions
36-38 s (results/fork-isolation). A worker forked from bench/forked.py's
preloaded server has those modules imported and has run nothing yet; forked at that moment (before
the job loads a runtime, a plug-in or an effect, starts a thread or runs a torch op), the child is
what a fresh companion is after its imports: no plug-in imported, no thread, no OpenMP pool, the
harness's allocator settings (the server started with them). It is the worker's child, as the
fresh one is: it stops and follows its parent (bench/engine/affinity.py) and dies with it.
"""
from __future__ import annotations

import os
from typing import IO, Callable

from linreg.lifetime import PARENT_PID_ENV, die_with_parent


class ForkedChild:
    """subprocess.Popen's poll, wait and kill for a child made by os.fork."""

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"companion {self.pid}", timeout or 0.0)
            time.sleep(0.005)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        import signal

        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass


def fork_companion(serve: Callable[[IO[str], IO[str]], None]) -> tuple[ForkedChild, IO[str], IO[str]]:
    """Fork this process into a companion running `serve(channel, requests)` over two pipes:
    (the child, the worker's request stream to it, its reply stream)."""
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    worker = os.getpid()
    pid = os.fork()
    if pid == 0:  # the companion: never returns
        _become_companion(serve, worker, requests_r, replies_w)
    os.close(requests_r)
    os.close(replies_w)
    return ForkedChild(pid), os.fdopen(requests_w, "w", buffering=1), os.fdopen(replies_r)


def _become_companion(serve: Callable[[IO[str], IO[str]], None], worker: int,
                      requests: int, replies: int) -> None:
    code = 1
    try:
        # nothing of the worker's reaches it: its pipe to the run (whose EOF must come with the
        # worker's exit, not ours) and its output files closed, output to /dev/null as a fresh
        # companion's stderr
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        _close_all_but({0, 1, 2, requests, replies})
        os.environ[PARENT_PID_ENV] = str(worker)
        die_with_parent()
        serve(os.fdopen(replies, "w", buffering=1), os.fdopen(requests))
        code = 0
    except BaseException:  # noqa: BLE001 - the worker sees EOF and says so
        pass
    finally:
        os._exit(code)


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor not in `keep` (never an empty range: os.closerange(0, 0) asks
    Linux's close_range for 0 to UINT_MAX, and closes everything)."""
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, max(low + 1, os.sysconf("SC_OPEN_MAX")))
