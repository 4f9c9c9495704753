"""Predictions from an export folder in one runtime (artifact hashes are checked first)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from export import loaders
from export.manifest import INPUT_NAME, OUTPUT_NAME, artifact_entry, resolve_inside
from export.parity import reference_checkpoint
from linreg.predict import predict_checkpoint

RUNTIMES = ("eager", "torchscript", "onnxruntime", "exported_program")


def predict_export(export_dir: Path, runtime: str, xs: list[float], device: str = "cpu") -> np.ndarray:
    """Predictions of one runtime from an export folder (hashes checked first), as float32."""
    manifest = loaders.read_manifest(export_dir)
    x = np.asarray(xs, dtype=np.float32).reshape(-1, 1)
    if runtime == "eager":
        return predict_checkpoint(reference_checkpoint(export_dir, manifest), xs, device)
    fmt = {"onnxruntime": "onnx"}.get(runtime, runtime)
    path = resolve_inside(export_dir, artifact_entry(manifest, fmt)["path"])
    if runtime == "onnxruntime":
        return loaders.make_ort_session(path, device).run([OUTPUT_NAME], {INPUT_NAME: x})[0].ravel()
    load = loaders.load_torchscript if runtime == "torchscript" else loaders.load_exported_program
    module = load(path, device)
    with torch.no_grad():
        return module(torch.from_numpy(x).to(device)).cpu().numpy().ravel()
