"""Start torchrun in its own process group and end it with every rank it started.

torchrun starts each rank in a session of its own (start_new_session in its SubprocessHandler),
so signalling torchrun's group alone does not reach the ranks. Ending a job therefore: note
every descendant first (they are re-parented once torchrun exits), SIGTERM torchrun (its agent
then SIGTERMs the ranks' groups), wait a grace period, then SIGKILL whatever is left, torchrun's
group and each rank's group. Ranks also ask the kernel to SIGKILL them if torchrun dies
(rank.die_with_parent), and torchrun gets SIGTERM if this process dies: no orphans either way.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from linreg.limits import limit_memory


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and ')'
    return int(fields[1]), fields[0]


def alive(pid: int) -> bool:
    """True if `pid` runs (a zombie, dead but not yet reaped, does not count)."""
    info = _ppid_and_state(pid)
    if info is not None:
        return info[1] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return sys.platform != "linux"  # /proc is the truth on Linux


def descendants(root: int) -> list[int]:
    """Every live descendant of `root` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            info = _ppid_and_state(int(entry.name))
            if info is not None:
                children.setdefault(info[0], []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _parent_death_sigterm() -> None:
    """In the child before exec (Linux): SIGTERM it when this process dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def start_group(argv: list[str], env: dict[str, str], log: IO[bytes],
                memory_gib: float | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new session (its own process group), output to `log`;
    under `memory_gib` of private memory (RLIMIT_DATA, inherited by every rank it starts)."""
    linux = sys.platform.startswith("linux")

    def before_exec() -> None:
        _parent_death_sigterm()
        if memory_gib:
            limit_memory(memory_gib)
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=before_exec if linux else None)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C must not interrupt the cleanup that the first one started."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to protect
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def end_group(proc: subprocess.Popen[bytes], extra_pids: Iterable[int] = (), grace_s: float = 5.0) -> None:
    """End `proc`, its group and all its descendants (plus `extra_pids`); returns when all are gone."""
    with _sigint_ignored():
        pids = set(descendants(proc.pid)) | set(extra_pids)
        _signal_group(proc.pid, signal.SIGTERM)  # torchrun's agent then ends its ranks
        deadline = time.monotonic() + grace_s
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        pids |= set(descendants(proc.pid)) if proc.poll() is None else set()
        for pid in [proc.pid, *sorted(pids)]:
            if pid == proc.pid and proc.poll() is not None:
                continue
            if pid == proc.pid or alive(pid):
                _signal_group(pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + grace_s
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
