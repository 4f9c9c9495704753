"""Atomic file writes: a temporary file in the target's folder, then a rename."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from linreg.errors import LinregError, exception_line
from linreg.untrusted import file_kind

FULL_DISK_BYTES = 1 << 20  # under 1 MiB free: a failed write is the disk being full


def pid_alive(pid: int) -> bool:
    """Whether process `pid` (not this one) still runs: a staging folder it owns is not debris."""
    if pid == os.getpid():
        return False  # debris of an earlier process that had our pid: we are not writing it yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def current_umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode open()/mkdir() would give: mkstemp/mkdtemp make 0600/0700, too private for results."""
    return (0o777 if directory else 0o666) & ~current_umask()


class UnsafeDestinationError(LinregError):
    """An output path that is not ours to replace (exit 2, one line, nothing written)."""


def output_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why `path` must not be replaced by a file, or None when it is absent or a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink; refusing to replace it (name the file itself)"
    if stat.S_ISREG(st.st_mode):
        return None
    return f"is {file_kind(st.st_mode)}, not a regular file; refusing to replace it"


def _check_target(target: Path) -> None:
    problem = output_file_problem(target)
    if problem is not None:
        raise UnsafeDestinationError(f"{target} {problem}")


def temp_prefix(target: Path) -> str:
    """`.NAME.PID.`: a temporary file beside `target` that names the process writing it."""
    return f".{target.name}.{os.getpid()}."


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove `.NAME.PID.*.tmp` files beside `target` whose process is gone (a write killed by
    kill -9 or a full disk). Regular files only; a live process's, and ours, are kept."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[a-z0-9_]{{8}}\.tmp")
    removed = []
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    except OSError:
        return removed
    for path in candidates:
        match = pattern.fullmatch(path.name)
        if match is None or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    target = Path(path)
    _check_target(target)  # a symlink, FIFO or device is never replaced (os.replace would)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, default_mode())
    try:
        yield tmp_path
        _check_target(target)  # again: it may have been swapped in while we wrote
        os.replace(tmp_path, target)  # atomic on POSIX: readers see the old file or the new one
    except (RuntimeError, OSError) as exc:  # torch.save's C++ zip writer reports a full disk as
        # RuntimeError; a write()'s ENOSPC carries no file name: either way the line names the target
        raise write_failure(target, exc) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def disk_full(folder: Path) -> bool:
    """True when the file system of `folder` has under FULL_DISK_BYTES left for us."""
    try:
        vfs = os.statvfs(folder)
    except OSError:
        return False
    return vfs.f_bavail * vfs.f_frsize < FULL_DISK_BYTES


class WriteFailedError(LinregError):
    """A file could not be written (full disk, I/O error); nothing half-written is left."""


def write_failure(target: Path, exc: BaseException) -> WriteFailedError:
    """One line for a failed write: `no space left on <mount>` when the disk is full, else the cause."""
    if disk_full(target.parent) or getattr(exc, "errno", None) == errno.ENOSPC:
        return WriteFailedError(f"no space left on the device of {target.parent} (writing {target.name})")
    cause = re.sub(r"^\[enforce fail at [^\]]*\][\s.]*", "", exception_line(exc))  # torch's C++ prefix
    return WriteFailedError(f"cannot write {target} ({cause or type(exc).__name__})")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
