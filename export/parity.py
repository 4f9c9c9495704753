"""Parity: does every artifact, in its own runtime, predict what the state_dict model predicts?

Errors are reported as the max absolute error and the max ULP distance (float32 units in the
last place, counted on the int32 view of the bits; rtol breaks near zero, ULPs do not).

Tolerance (TOLERANCE_ULP): 0 ULP, i.e. bit-exact, for every CPU runtime. This model is one
float32 multiply and one float32 add; eager torch, TorchScript, ExportedProgram, ORT's CPU Mul/Add
kernels and onnx's numpy-based ReferenceEvaluator all round both steps the same way (no FMA
contraction), and measured here they agree bit for bit at every batch. GPUs may contract into
an FMA or differ in the last bit, so ORT on CUDA is allowed 1 ULP.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.errors import ArtifactError, ParityError
from export.admission import admit_export_folder
from export.loaders import load_exported_program, load_torchscript, make_ort_session
from export.manifest import (FORMATS, MANIFEST_NAME, ONNX_CHECKPOINT_KEY, artifact_entry,
                             resolve_checkpoint, resolve_inside, sha256_file)
from export.unchecked import UncheckedLimits, UncheckedRunError, run_unchecked_onnx
from export.validation import check_onnx
from linreg.checkpoint import load_model
from linreg.data import make_linear_data, split_train_test
from linreg.errors import exception_line

PARITY_BATCHES = (1, 7, 1000, 1_000_000)
PARITY_SEED = 20240501  # fixed: verify must check the same inputs every run
EXACT_ULP = 0  # y = w*x + b rounded twice, as eager does: every CPU runtime here
FMA_ULP = 1    # a multiply-add contracted into one FMA (GPU kernels, code generators)
TOLERANCE_ULP: dict[str, int] = {
    "torchscript": EXACT_ULP,
    "exported_program": EXACT_ULP,
    "onnxruntime-cpu": EXACT_ULP,
    "onnx-reference": EXACT_ULP,
    "onnxruntime-cuda": FMA_ULP,  # GPU kernels may fuse to FMA; one rounding apart at most
}
# Far outside the tutorial's [0, 1) training range, but finite in float32 after w * x + b.
EXTREMES = np.array([0.0, -0.0, -1.0, 1e-38, -1e6, 1e30, -3e37], dtype=np.float32)

Predictor = Callable[[np.ndarray], np.ndarray]


def ordered_ulps(values: np.ndarray) -> np.ndarray:
    """float32 bits as int64 on one monotonic number line (-0 and +0 both map to 0)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def compare_outputs(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, int]:
    """(max_abs_error, max_ulp) between two float32 arrays of the same shape.

    NaN equals NaN (0 ULP); NaN against a number counts as inf error and 2**32 ULP.
    """
    ref = np.asarray(reference, dtype=np.float32)
    cand = np.asarray(candidate, dtype=np.float32)
    if ref.shape != cand.shape:
        raise ValueError(f"shape {cand.shape} differs from the reference's {ref.shape}")
    if ref.size == 0:
        return 0.0, 0
    ref_nan, cand_nan = np.isnan(ref), np.isnan(cand)
    both_nan = ref_nan & cand_nan
    one_nan = ref_nan ^ cand_nan
    with np.errstate(invalid="ignore", over="ignore"):
        abs_error = np.abs(ref.astype(np.float64) - cand.astype(np.float64))
    abs_error[both_nan] = 0.0
    ulps = np.abs(ordered_ulps(ref) - ordered_ulps(cand))
    ulps[both_nan] = 0
    if one_nan.any():
        return float("inf"), 2**32
    return float(np.max(abs_error)), int(np.max(ulps))


def parity_inputs(seed: int = PARITY_SEED) -> list[tuple[str, np.ndarray]]:
    """(label, x[batch, 1] float32): the tutorial's test split, then seeded random batches."""
    X, y = make_linear_data()
    _, _, X_test, _ = split_train_test(X, y)
    cases = [("test_split", X_test.numpy().astype(np.float32))]
    rng = np.random.default_rng(seed)
    for batch in PARITY_BATCHES:
        # Mostly far outside the training range: magnitudes from 1e-3 to 1e6, both signs,
        # a quarter inside [0, 1), and the extremes at the front where they fit.
        magnitude = 10.0 ** rng.uniform(-3, 6, batch)
        x = (rng.standard_normal(batch) * magnitude).astype(np.float32)
        inside = rng.random(batch) < 0.25
        x[inside] = rng.random(int(inside.sum())).astype(np.float32)
        k = min(batch, len(EXTREMES))
        x[:k] = EXTREMES[:k]
        cases.append((f"random_{batch}", x.reshape(batch, 1)))
    return cases


@dataclass(frozen=True)
class ParityRow:
    runtime: str
    inputs: str
    batch: int
    max_abs_error: float
    max_ulp: int
    tolerance_ulp: int
    note: str = ""   # why a row failed without numbers (an exception, a wrong shape)

    @property
    def passed(self) -> bool:
        return not self.note and self.max_ulp <= self.tolerance_ulp


@dataclass
class VerifyReport:
    export_dir: Path
    model: str
    rows: list[ParityRow] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    def table(self) -> str:
        """A fixed-width table, one row per runtime and input batch."""
        header = f"{'runtime':<18} {'inputs':<16} {'batch':>8} {'max_abs_error':>14} {'max_ulp':>8} {'tol_ulp':>7}  result"
        lines = [header, "-" * len(header)]
        for r in self.rows:
            result = "ok" if r.passed else f"FAIL{': ' + r.note if r.note else ''}"
            lines.append(f"{r.runtime:<18} {r.inputs:<16} {r.batch:>8} {r.max_abs_error:>14.3g} "
                         f"{r.max_ulp:>8} {r.tolerance_ulp:>7}  {result}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        return {"export_dir": str(self.export_dir), "model": self.model, "passed": self.passed,
                "checks": self.checks,
                "rows": [{**r.__dict__, "passed": r.passed} for r in self.rows]}


def _torch_predictor(module: Callable[[torch.Tensor], torch.Tensor]) -> Predictor:
    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).detach().cpu().numpy()
    return predict


def runtime_predictors(export_dir: Path, manifest: dict[str, Any], formats: Collection[str] = FORMATS,
                       unchecked: UncheckedLimits | None = None) -> dict[str, Predictor]:
    """Every runtime that can run this folder's artifacts (of `formats`) here, each from its own file;
    with `unchecked`, the ONNX graph runs in a bounded child only (no in-process evaluator)."""
    import onnx
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    predictors: dict[str, Predictor] = {}
    for entry in manifest["artifacts"]:
        if entry["format"] not in formats:
            continue
        path = resolve_inside(export_dir, entry["path"])
        if entry["format"] == "torchscript":
            predictors["torchscript"] = _torch_predictor(load_torchscript(path))
        elif entry["format"] == "exported_program":
            predictors["exported_program"] = _torch_predictor(load_exported_program(path))
        elif entry["format"] == "onnx" and unchecked is not None:
            predictors["onnxruntime-cpu"] = lambda x, p=path, h=entry["sha256"]: run_unchecked_onnx(p, h, x, unchecked)
        elif entry["format"] == "onnx":
            cpu = make_ort_session(path, "cpu")
            predictors["onnxruntime-cpu"] = lambda x, s=cpu: s.run(["y"], {"x": x})[0]
            if "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available():
                gpu = make_ort_session(path, "cuda")
                predictors["onnxruntime-cuda"] = lambda x, s=gpu: s.run(["y"], {"x": x})[0]
            evaluator = ReferenceEvaluator(onnx.load(str(path)))
            predictors["onnx-reference"] = lambda x, e=evaluator: np.asarray(e.run(None, {"x": x})[0])
    return predictors


def reference_checkpoint(export_dir: Path, manifest: dict[str, Any],
                         checkpoint: str | os.PathLike[str] | None = None) -> Path:
    """The checkpoint the manifest names (or `checkpoint`), after checking its sha256."""
    recorded = manifest["source_checkpoint"]
    path = Path(checkpoint) if checkpoint is not None else resolve_checkpoint(export_dir, str(recorded["path"]))
    if not path.is_file():
        raise ArtifactError(f"source checkpoint {path} not found (pass --checkpoint to say where it is)")
    if sha256_file(path) != recorded["sha256"]:
        raise ArtifactError(f"checkpoint {path} is not the one this folder was exported from (sha256 differs)")
    return path


def verify_export(export_dir: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None,
                  *, raise_on_failure: bool = False, formats: Collection[str] = FORMATS,
                  unchecked: UncheckedLimits | None = None) -> VerifyReport:
    """Check hashes, validate the ONNX file, then compare every runtime with the eager model.

    What is checked is what the manifest promises: every artifact it lists, and nothing it does
    not, so an export folder written before a new format existed still verifies. `formats`
    limits which artifacts are loaded: ("onnx",) loads no program (--trust-only onnx).
    """
    folder = Path(export_dir)
    programs = all(fmt in formats for fmt in FORMATS)
    manifest = admit_export_folder(folder, programs, check_graphs=unchecked is None)  # sha256 of each first
    source = reference_checkpoint(folder, manifest, checkpoint)
    _, model = load_model(source, "cpu")
    report = VerifyReport(export_dir=folder, model=str(manifest.get("model")))
    held = {entry["format"] for entry in manifest["artifacts"]}
    if not held:
        raise ArtifactError(f"{folder / MANIFEST_NAME} lists no artifact (nothing to verify)")
    if "onnx" in held:
        report.checks["onnx"] = _check_onnx_artifact(folder, manifest)
    predictors = runtime_predictors(folder, manifest, formats, unchecked)
    if unchecked is not None:
        report.checks["unchecked"] = unchecked.to_json()
    report.checks["loaded_formats"] = [fmt for fmt in FORMATS if fmt in formats and fmt in held]
    reference = _torch_predictor(model)
    cases = [(label, x, reference(x)) for label, x in parity_inputs()]
    for runtime, predict in predictors.items():
        report.rows += _parity_rows(runtime, predict, cases)
    if raise_on_failure and not report.passed:
        failed = sorted({r.runtime for r in report.rows if not r.passed})
        raise ParityError(f"parity failed for {', '.join(failed)} in {folder}", report=report.table())
    return report


def _check_onnx_artifact(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """onnx's checker on the file, and the checkpoint it says it came from is the manifest's."""
    onnx_path = resolve_inside(folder, artifact_entry(manifest, "onnx")["path"])
    checks = check_onnx(onnx_path)
    embedded = checks["metadata"].get(ONNX_CHECKPOINT_KEY)
    if embedded != manifest["source_checkpoint"]["sha256"]:
        raise ArtifactError(f"{onnx_path} was exported from checkpoint sha256 {str(embedded)[:12]}..., "
                            f"not the manifest's source checkpoint "
                            f"{str(manifest['source_checkpoint']['sha256'])[:12]}...")
    return checks


def _parity_rows(runtime: str, predict: Predictor,
                 cases: list[tuple[str, np.ndarray, np.ndarray]]) -> list[ParityRow]:
    rows = []
    tolerance = TOLERANCE_ULP.get(runtime, EXACT_ULP)
    for label, x, expected in cases:
        try:
            abs_error, ulp = compare_outputs(expected, predict(x))
            rows.append(ParityRow(runtime, label, len(x), abs_error, ulp, tolerance))
        except UncheckedRunError:  # a stranger's graph past its limit: one line naming it, not 6 rows
            raise
        except Exception as exc:  # noqa: BLE001 - a runtime that crashes fails its row
            rows.append(ParityRow(runtime, label, len(x), float("nan"), -1, tolerance,
                                  exception_line(exc, 80)))
    return rows
