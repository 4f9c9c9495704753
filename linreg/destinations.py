"""Where linreg-bench may write: never over what is not ours.

One place decides, for every command, whether an output path may be written:

  - an output FILE (`-o FILE`, and every atomic write) replaces only nothing or a regular file;
    a symlink, a FIFO, a device (/dev/null, /dev/full) or a socket is refused, never replaced;
  - an output FOLDER (`--out DIR` of train, sweep, bench, run) is written into only when it is
    new, empty, marked by an earlier run of this tool (OWNER_MARKER), or holds that command's
    own record file (folders from before the marker); a user's folder is refused whole;
  - a path inside a store stays inside it once its symlinks are resolved.

Checks use lstat, so a link is judged as itself and never followed.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Callable

from linreg.errors import LinregError
from linreg.files import UnsafeDestinationError, output_file_problem, write_text_atomic
from linreg.untrusted import UntrustedFileError, load_json

OWNER_MARKER = ".linreg-bench-out"   # in every --out folder this tool claimed: safe to write into
MAX_RECORD_BYTES = 64 << 20          # a legacy record file (results.json) is read to tell it is ours


def check_output_file(path: str | os.PathLike[str], option: str = "-o") -> Path:
    """`path` if a file may be written there (absent, or a regular file); else one-line error."""
    problem = output_file_problem(path)
    if problem is not None:
        raise UnsafeDestinationError(f"{option} {path} {problem}")
    return Path(path)


def check_output_tree(path: Path, option: str = "--out") -> None:
    """Refuse an output FOLDER path that is a symlink or not a folder (it would be replaced whole)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UnsafeDestinationError(f"{option} {path} cannot be examined ({exc.strerror or exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeDestinationError(f"{option} {path} is a symlink; refusing to replace it "
                                     f"(name the folder itself)")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDestinationError(f"{option} {path} exists and is not a folder")


def json_record_is_ours(name: str, keys: tuple[str, ...]) -> Callable[[Path], bool]:
    """A legacy-ownership test: `folder/name` is a regular JSON object file holding every key."""
    def test(folder: Path) -> bool:
        record = folder / name
        if record.is_symlink() or not record.is_file():
            return False
        try:
            data = load_json(record, max_bytes=MAX_RECORD_BYTES)
        except UntrustedFileError:
            return False
        return isinstance(data, dict) and all(k in data for k in keys)
    return test


def folder_is_ours(out: Path, legacy: Callable[[Path], bool] | None = None) -> bool:
    """Whether linreg-bench may write into the existing folder `out`: empty, marked, or legacy-ours."""
    try:
        if not any(out.iterdir()):
            return True
    except OSError:
        return False
    marker = out / OWNER_MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    return legacy is not None and legacy(out)


def claim_folder(out: Path, command: str, legacy: Callable[[Path], bool] | None = None,
                 option: str = "--out") -> Path:
    """Create `out` or check it is ours to write into, then mark it (OWNER_MARKER); returns `out`.

    A symlink to a folder is followed (the user named it); a link to anything else, a file, or
    a non-empty folder this tool did not write is refused with one line, before any work."""
    if out.exists() and not out.is_dir():
        raise UnsafeDestinationError(f"{option} {out} exists and is not a folder")
    if out.is_dir() and not folder_is_ours(out, legacy):
        raise UnsafeDestinationError(
            f"{option} {out} is a non-empty folder that linreg-bench {command} did not write (no "
            f"{OWNER_MARKER}); refusing to write into it (name a new or empty folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        marker = out / OWNER_MARKER
        if not marker.is_file():
            write_text_atomic(marker, json.dumps({"written_by": f"linreg-bench {command}"}) + "\n")
    except OSError as exc:
        raise LinregError(f"cannot write into {option} {out} ({exc.strerror or exc})") from None
    return out


def inside(root: Path, path: Path, what: str) -> Path:
    """`path` with its symlinks resolved, refused unless it lies inside `root` (also resolved)."""
    try:
        real_root, real = root.resolve(), path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise UnsafeDestinationError(f"{what} {path} cannot be resolved "
                                     f"({getattr(exc, 'strerror', None) or exc})") from None
    if real != real_root and not real.is_relative_to(real_root):
        raise UnsafeDestinationError(f"{what} {path} resolves to {real}, outside {root}; "
                                     f"refusing to write there")
    return real
