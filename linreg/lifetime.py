"""A child process never outlives its parent; scratch folders of killed runs are swept later.

Ctrl-C reaches a whole process group, but SIGTERM or kill -9 of the parent reaches the parent
alone: without this, its child keeps running under PID 1 (the campaign found LoadGen children
doing so). Linux's PR_SET_PDEATHSIG makes the kernel signal the child when the parent dies.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from linreg.files import pid_alive

PARENT_PID_ENV = "LINREG_BENCH_PARENT_PID"  # set by the parent: the child checks it is still there
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) plus this process's pid, for die_with_parent in the child."""
    return {**(os.environ if env is None else env), PARENT_PID_ENV: str(os.getpid())}


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """In a child: ask the kernel for `sig` when the parent dies; exit now if it already has.

    The pid check closes the race of a parent that died before the prctl. Returns whether the
    kernel took the request (False off Linux, where a closed pipe or timeout still ends us)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    expected = os.environ.get(PARENT_PID_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(1)  # the parent is already gone: nobody waits for our result
    return armed


def scratch_folder(prefix: str) -> Path:
    """A fresh temporary folder named PREFIX-PID-xxxx, after removing those of dead processes."""
    remove_stale_scratch(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-"))


def remove_stale_scratch(prefix: str, folder: Path | None = None) -> list[Path]:
    """Remove PREFIX-PID-* folders (ours: same owner, real folders) whose process is gone."""
    root = Path(folder or tempfile.gettempdir())
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)-[A-Za-z0-9_]+")
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = pattern.fullmatch(path.name)
        try:
            st = path.lstat()
        except OSError:
            continue
        ours = st.st_uid == os.getuid() and path.is_dir() and not path.is_symlink()
        if match and ours and not pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
