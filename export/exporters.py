"""Write TorchScript, ONNX and ExportedProgram artifacts of a checkpoint, plus manifest.json.

Everything is built in a temporary folder beside `--out`, verified there, then swapped into
place: a reader sees the old export folder or the complete new one, never half of one. On Linux
the swap is one atomic renameat2(RENAME_EXCHANGE), so `--out` never goes missing; elsewhere it is
two renames, between which `--out` is briefly absent.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from export.errors import ExportError, ParityError
from export.graphs import FlatLine, batch_dynamic_shapes, example_input
from export.manifest import ARTIFACT_NAMES, FORMATS, MANIFEST_NAME, MANIFEST_VERSION, sha256_file
from export.quiet import quiet
from linreg.checkpoint import load_model
from linreg.errors import exception_line
from linreg.files import default_mode, disk_full, write_failure, write_json_atomic

INPUT_NAME = "x"    # the ONNX input: float32 [batch, 1]
OUTPUT_NAME = "y"   # the ONNX output: float32 [batch, 1]
IO_SHAPE = ["batch", 1]
ONNX_CHECKPOINT_KEY = "linreg.source_checkpoint_sha256"  # ONNX metadata_props: where it came from


def package_versions() -> dict[str, str | None]:
    """Versions of everything that writes or reads an artifact, for the manifest."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("onnx", "onnxscript", "onnxruntime", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def export_torchscript(model: nn.Module, path: Path) -> dict[str, Any]:
    """torch.jit.script the model (trace where script fails) and save it; deprecations contained."""
    with quiet():
        try:
            module = torch.jit.script(model)
            method = "script"
        except Exception:  # noqa: BLE001 - script rejects some Python; trace never needs it
            module = torch.jit.trace(model, example_input())
            method = "trace"
        torch.jit.save(module, str(path))
    return {"method": method, "graph": "model"}


def export_onnx(model: nn.Module, path: Path, metadata_props: dict[str, str]) -> dict[str, Any]:
    """The dynamo exporter on FlatLine(model): one self-contained file, input x, output y."""
    import onnx

    with quiet():
        program = torch.onnx.export(
            FlatLine(model).eval(),
            (example_input(),),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=batch_dynamic_shapes(),
            external_data=False,  # else it writes a model.onnx.data sidecar, even an empty one
            verbose=False,        # else it prints [torch.onnx] progress lines
        )
        proto = program.model_proto
    for key, value in metadata_props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = "linreg-bench: y = weight * x + bias on x[batch, 1]"
    onnx.save_model(proto, str(path), save_as_external_data=False)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "opset": opset,
        "ir_version": proto.ir_version,
        "exporter": "dynamo",
        "graph": "flat",  # Reshape -> Mul -> Add -> Reshape: see export/graphs.py
        "input": {"name": INPUT_NAME, "shape": IO_SHAPE, "dtype": "float32"},
        "output": {"name": OUTPUT_NAME, "shape": IO_SHAPE, "dtype": "float32"},
    }


def export_exported_program(model: nn.Module, path: Path) -> dict[str, Any]:
    """torch.export.export with a dynamic batch dimension, then torch.export.save (.pt2)."""
    with quiet():
        program = torch.export.export(model, (example_input(),), dynamic_shapes=batch_dynamic_shapes())
        torch.export.save(program, str(path))
    return {"graph": "model"}


def write_artifacts(model: nn.Module, model_name: str, checkpoint_sha256: str, folder: Path) -> list[dict[str, Any]]:
    """Write all three artifacts into `folder` and return their manifest entries."""
    entries = []
    writers = {
        "torchscript": lambda p: export_torchscript(model, p),
        "onnx": lambda p: export_onnx(
            model, p, {"linreg.model": model_name, ONNX_CHECKPOINT_KEY: checkpoint_sha256}
        ),
        "exported_program": lambda p: export_exported_program(model, p),
    }
    for fmt, write in writers.items():
        path = folder / ARTIFACT_NAMES[fmt]
        try:
            details = write(path)
        except Exception as exc:  # noqa: BLE001 - an exporter failure is reported, not a traceback
            if disk_full(folder):  # torch's writers report ENOSPC as RuntimeError: say what it is
                raise write_failure(path, exc) from None
            raise ExportError(f"{fmt} export failed ({exception_line(exc)})") from None
        entry: dict[str, Any] = {"format": fmt, "path": ARTIFACT_NAMES[fmt],
                                 "sha256": sha256_file(path), "bytes": path.stat().st_size,
                                 "opset": None, "ir_version": None,
                                 "input": {"name": INPUT_NAME, "shape": IO_SHAPE, "dtype": "float32"}}
        entry.update(details)
        entries.append(entry)
    return entries


def _resolve_out(out_dir: str | os.PathLike[str]) -> Path:
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


def _is_our_export(folder: Path) -> bool:
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


def _check_out(out: Path, source: Path) -> None:
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
    if out.is_dir() and any(out.iterdir()) and not _is_our_export(out):
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


def _publish(tmp: Path, out: Path) -> None:
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


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # debris of an earlier process that had our pid: we are not exporting yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


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
            stale = not _pid_alive(int(match.group(1) or match.group(2)))
        else:
            stale = legacy.fullmatch(path.name) is not None
        if stale and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def export_all(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    verify: bool = True,
    on_report: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Export a checkpoint to all three formats in `out_dir` and return the manifest.

    With verify=True (the CLI's default) the artifacts are validated and checked for parity
    before the folder is published; a failure leaves `out_dir` as it was and raises
    ParityError (exit 1). `on_report` receives the passing export.parity.VerifyReport.
    """
    source = Path(checkpoint)
    out = _resolve_out(out_dir)  # every check and the publish work on the real folder
    _check_out(out, source)      # before any work: nothing is exported only to be refused
    model_name, model = load_model(source, "cpu")  # CheckpointError for missing/corrupt/hostile
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_debris(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=parent))
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would outlive the rename
    except OSError as exc:
        raise ExportError(f"cannot write --out {out} ({exc.strerror or exc})") from None
    try:
        checkpoint_sha = sha256_file(source)
        # Relative to the export folder, so checkpoint and export folder can move together;
        # tmp sits beside `out`, so the same relative path resolves from both.
        try:
            recorded = Path(os.path.relpath(source.resolve(), out)).as_posix()
        except ValueError:  # another drive on Windows
            recorded = source.resolve().as_posix()
        artifacts = write_artifacts(model, model_name, checkpoint_sha, tmp)
        manifest: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "model": model_name,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source_checkpoint": {"path": recorded, "sha256": checkpoint_sha},
            "dynamic_batch": True,
            "versions": package_versions(),
            "artifacts": artifacts,
        }
        write_json_atomic(tmp / MANIFEST_NAME, manifest)
        if verify:
            from export.parity import verify_export  # parity imports the loaders, which import us

            report = verify_export(tmp)
            report.export_dir = out  # name the folder the user asked for, not the temporary one
            if not report.passed:
                failed = sorted({r.runtime for r in report.rows if not r.passed})
                raise ParityError(f"parity failed for {', '.join(failed)}; nothing written to {out}",
                                  report=report.table())
            if on_report is not None:
                on_report(report)
        _publish(tmp, out)
    except OSError as exc:
        raise ExportError(f"cannot write --out {out} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest
