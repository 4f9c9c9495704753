"""Publishing an export folder: build beside --out, then swap it in whole; refuse what is not ours.

A reader sees the old export folder or the complete new one, never half of one. On Linux the swap
is one atomic renameat2(RENAME_EXCHANGE), so `--out` never goes missing; elsewhere it is two
renames, between which `--out` is briefly absent. Killed exports leave debris beside `--out`,
which the next export removes once its process is gone.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from export.errors import ExportError
from export.manifest import FORMATS, MANIFEST_NAME, MANIFEST_VERSION
from linreg.files import default_mode, pid_alive


def resolve_out(out_dir: str | os.PathLike[str]) -> Path:
    """--out as an absolute path with every symlink resolved: `.` gets its real name, and a
    symlinked --out is published into its target (the link itself stays as it is)."""
    out = Path(out_dir)
    try:
        resolved = out.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ExportError(f"cannot resolve --out {out} ({getattr(exc, 'strerror', None) or exc})") from None
    if not resolved.name or resolved == resolved.parent:
        raise ExportError(f"--out {out} resolves to the filesystem root; name a folder")
    return resolved


def is_our_export(folder: Path) -> bool:
    """A folder written by `export`: a valid manifest (manifest_version, artifacts), and nothing
    in the folder but manifest.json and the files that manifest names."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION:
        return False
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts:
        return False
    names = {MANIFEST_NAME}
    for entry in artifacts:
        if not isinstance(entry, dict) or entry.get("format") not in FORMATS:
            return False
        path = entry.get("path")
        if not isinstance(path, str) or not path or "/" in path or "\\" in path or path in (".", ".."):
            return False
        names.add(path)
    try:
        children = list(folder.iterdir())
    except OSError:
        return False
    # Only plain files (no folders, no symlinks) and only the manifest's own names.
    return all(c.name in names and c.is_file() and not c.is_symlink() for c in children)


def check_out(out: Path, source: Path) -> None:
    """Refuse an --out that export must not replace; `out` is already resolved."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder")
    try:
        inside = source.resolve().is_relative_to(out)
    except (OSError, RuntimeError):
        inside = False
    if inside:
        raise ExportError(f"--checkpoint {source} is inside --out {out}; export would replace it "
                          f"(choose an --out that does not hold the checkpoint)")
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        cwd = None
    if cwd is not None and cwd.is_relative_to(out):
        raise ExportError(f"--out {out} is (or holds) the current folder, which export would replace "
                          f"(name a subfolder, or run it from elsewhere)")
    if out.is_dir() and any(out.iterdir()) and not is_our_export(out):
        raise ExportError(f"--out {out} is a non-empty folder that is not an export folder "
                          f"(a valid {MANIFEST_NAME} naming every file in it); refusing to replace it")


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2 RENAME_EXCHANGE).

    False where the call does not exist or the filesystem does not support it; OSError on a
    real failure (permissions, ...)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # no glibc >= 2.28 (musl, old systems)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # kernel or filesystem without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), str(b))


def publish_folder(tmp: Path, out: Path) -> None:
    """Put the finished `tmp` folder at `out`, replacing an older export folder there.

    Where the OS can (Linux renameat2 RENAME_EXCHANGE) the two folders are swapped in one atomic
    step, so `out` never goes missing; elsewhere it takes two renames, and `out` is briefly absent.
    The old folder ends up at `tmp`, which the caller removes."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)  # put the previous export back
        raise
    shutil.rmtree(old, ignore_errors=True)


def remove_debris(out: Path) -> list[Path]:
    """Remove what killed earlier exports to `out` left beside it: `.NAME.PID.*.tmp` build folders
    and `.NAME.old-PID` backups whose process is gone (and pid-less `.NAME.*.tmp` of older
    versions). Only real folders are removed, never symlinks or files. Returns what was removed."""
    name = re.escape(out.name)
    with_pid = re.compile(rf"\.{name}\.(?:(\d+)\.[a-z0-9_]{{8}}\.tmp|old-(\d+))")
    legacy = re.compile(rf"\.{name}\.[a-z0-9_]{{8}}\.tmp")  # before tmp names carried a pid
    removed = []
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        match = with_pid.fullmatch(path.name)
        if match:
            stale = not pid_alive(int(match.group(1) or match.group(2)))
        else:
            stale = legacy.fullmatch(path.name) is not None
        if stale and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def make_staging(out: Path) -> Path:
    """A fresh `.NAME.PID.xxxxxxxx.tmp` build folder beside `out` (debris of dead exports removed first)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_debris(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would outlive the rename
    except OSError as exc:
        raise ExportError(f"cannot write --out {out} ({exc.strerror or exc})") from None
    return tmp
