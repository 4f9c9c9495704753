"""Predictions from an export folder in one runtime (artifact hashes are checked first)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from export import loaders
from export.admission import admit_export_folder
from export.errors import ArtifactError
from export.manifest import INPUT_NAME, OUTPUT_NAME, artifact_entry, resolve_inside
from export.parity import reference_checkpoint
from export.unchecked import OPTION, UncheckedLimits, run_unchecked_onnx
from linreg.errors import exception_line
from linreg.predict import predict_checkpoint

RUNTIMES = ("eager", "torchscript", "onnxruntime", "exported_program")


def predict_export(export_dir: Path, runtime: str, xs: list[float], device: str = "cpu",
                   unchecked: UncheckedLimits | None = None) -> np.ndarray:
    """Predictions of one runtime from an export folder (hashes checked first), as float32.
    `unchecked`: the ONNX graph's shape is not checked; it runs in a bounded child instead."""
    manifest = admit_export_folder(export_dir, check_graphs=unchecked is None)
    x = np.asarray(xs, dtype=np.float32).reshape(-1, 1)
    if unchecked is not None:
        if runtime != "onnxruntime":
            raise ArtifactError(f"{OPTION} runs the ONNX artifact only (--runtime onnxruntime), not {runtime}")
        entry = artifact_entry(manifest, "onnx")
        return run_unchecked_onnx(resolve_inside(export_dir, entry["path"]), entry["sha256"], x, unchecked,
                                  device).ravel()
    if runtime == "eager":
        return predict_checkpoint(reference_checkpoint(export_dir, manifest), xs, device)
    fmt = {"onnxruntime": "onnx"}.get(runtime, runtime)
    path = resolve_inside(export_dir, artifact_entry(manifest, fmt)["path"])
    if runtime == "onnxruntime":
        session = loaders.make_ort_session(path, device)
        return _run(path, runtime, lambda: session.run([OUTPUT_NAME], {INPUT_NAME: x})[0].ravel())
    load = loaders.load_torchscript if runtime == "torchscript" else loaders.load_exported_program
    module = load(path, device)

    def forward() -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x).to(device)).cpu().numpy().ravel()
    return _run(path, runtime, forward)


def _run(path: Path, runtime: str, call: Callable[[], np.ndarray]) -> np.ndarray:
    """call(), with a model that fails at run time (a bad Reshape, an allocation failure) as one
    ArtifactError line instead of the runtime's traceback."""
    try:
        return np.asarray(call())
    except Exception as exc:  # noqa: BLE001 - ORT's Fail, torch's RuntimeError, MemoryError, ...
        raise ArtifactError(f"{path}: the {runtime} model failed on the input "
                            f"({type(exc).__name__}: {exception_line(exc)})") from None
