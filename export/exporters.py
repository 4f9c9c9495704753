"""Write TorchScript, ONNX and ExportedProgram artifacts of a checkpoint, plus manifest.json.

Everything is built in a temporary folder beside `--out`, verified there, then swapped into
place (export/publish.py): a reader sees the old export folder or the complete new one.
"""
from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from export.errors import ExportError, ParityError
from export.graphs import FlatLine, batch_dynamic_shapes, example_input
from export.manifest import (ARTIFACT_NAMES, INPUT_NAME, IO_SHAPE, MANIFEST_NAME, MANIFEST_VERSION,
                             ONNX_CHECKPOINT_KEY, OUTPUT_NAME, sha256_file)
from export.parity import verify_export
from export.publish import check_out, make_staging, publish_folder, resolve_out
from export.quiet import quiet
from linreg.checkpoint import load_model
from linreg.environment import package_versions as installed_versions
from linreg.errors import exception_line
from linreg.files import disk_full, write_failure, write_json_atomic


def package_versions() -> dict[str, str | None]:
    """Versions of everything that writes or reads an artifact, for the manifest."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            **installed_versions(("onnx", "onnxscript", "onnxruntime", "numpy"))}


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




def _manifest(model_name: str, source: Path, out: Path, checkpoint_sha: str,
              artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    # The checkpoint is recorded relative to the export folder, so both can move together;
    # the build folder sits beside `out`, so the same relative path resolves from both.
    try:
        recorded = Path(os.path.relpath(source.resolve(), out)).as_posix()
    except ValueError:  # another drive on Windows
        recorded = source.resolve().as_posix()
    return {
        "manifest_version": MANIFEST_VERSION,
        "model": model_name,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_checkpoint": {"path": recorded, "sha256": checkpoint_sha},
        "dynamic_batch": True,
        "versions": package_versions(),
        "artifacts": artifacts,
    }


def _verify_before_publishing(tmp: Path, out: Path, on_report: Callable[[Any], None] | None) -> None:
    report = verify_export(tmp)
    report.export_dir = out  # name the folder the user asked for, not the temporary one
    if not report.passed:
        failed = sorted({r.runtime for r in report.rows if not r.passed})
        raise ParityError(f"parity failed for {', '.join(failed)}; nothing written to {out}",
                          report=report.table())
    if on_report is not None:
        on_report(report)


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
    out = resolve_out(out_dir)  # every check and the publish work on the real folder
    check_out(out, source)      # before any work: nothing is exported only to be refused
    model_name, model = load_model(source, "cpu")  # CheckpointError for missing/corrupt/hostile
    tmp = make_staging(out)
    try:
        checkpoint_sha = sha256_file(source)
        artifacts = write_artifacts(model, model_name, checkpoint_sha, tmp)
        manifest = _manifest(model_name, source, out, checkpoint_sha, artifacts)
        write_json_atomic(tmp / MANIFEST_NAME, manifest)
        if verify:
            _verify_before_publishing(tmp, out, on_report)
        publish_folder(tmp, out)
    except OSError as exc:
        raise ExportError(f"cannot write --out {out} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest
