"""Write TorchScript, ONNX and ExportedProgram artifacts of a checkpoint, plus manifest.json.

Everything is built in a temporary folder beside `--out`, verified there, then renamed into
place: a reader sees the old export folder or the complete new one, never half of one.
"""
from __future__ import annotations

import os
import platform
import shutil
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
from export.manifest import ARTIFACT_NAMES, MANIFEST_NAME, MANIFEST_VERSION, sha256_file
from export.quiet import quiet
from linreg.checkpoint import load_model
from linreg.files import default_mode, write_json_atomic

INPUT_NAME = "x"    # the ONNX input: float32 [batch, 1]
OUTPUT_NAME = "y"   # the ONNX output: float32 [batch, 1]
IO_SHAPE = ["batch", 1]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


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
            model, p, {"linreg.model": model_name, "linreg.source_checkpoint_sha256": checkpoint_sha256}
        ),
        "exported_program": lambda p: export_exported_program(model, p),
    }
    for fmt, write in writers.items():
        path = folder / ARTIFACT_NAMES[fmt]
        try:
            details = write(path)
        except Exception as exc:  # noqa: BLE001 - an exporter failure is reported, not a traceback
            raise ExportError(f"{fmt} export failed ({_reason(exc)})") from None
        entry: dict[str, Any] = {"format": fmt, "path": ARTIFACT_NAMES[fmt],
                                 "sha256": sha256_file(path), "bytes": path.stat().st_size,
                                 "opset": None, "ir_version": None,
                                 "input": {"name": INPUT_NAME, "shape": IO_SHAPE, "dtype": "float32"}}
        entry.update(details)
        entries.append(entry)
    return entries


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise ExportError(f"--out {out} is a non-empty folder without {MANIFEST_NAME}; refusing to replace it")


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished `tmp` folder to `out`, replacing an older export folder there."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old, out)  # put the previous export back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


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
    out = Path(out_dir)
    model_name, model = load_model(source, "cpu")  # CheckpointError for missing/corrupt/hostile
    _check_out(out)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would outlive the rename
    except OSError as exc:
        raise ExportError(f"cannot write --out {out} ({exc.strerror or exc})") from None
    try:
        checkpoint_sha = sha256_file(source)
        # Relative to the export folder, so checkpoint and export folder can move together;
        # tmp sits beside `out`, so the same relative path resolves from both.
        try:
            recorded = Path(os.path.relpath(source.resolve(), out.absolute())).as_posix()
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
