"""`verify`: ULP arithmetic, parity in every runtime, ORT provider checks, and the exit-1 table."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from helpers import copy_export
from export.errors import ArtifactError, ParityError, RuntimeUnavailableError
from export.loaders import make_ort_session
from export.manifest import sha256_file
from export.parity import PARITY_BATCHES, compare_outputs, parity_inputs, verify_export
from linreg.checkpoint import load_model


def eager(checkpoint: Path, x: np.ndarray) -> np.ndarray:
    import torch

    _, model = load_model(checkpoint)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- compare_outputs: the ULP / abs-error arithmetic ---------------------------------------

def test_identical_arrays_are_zero():
    a = np.array([0.0, 1.5, -3.25e10], dtype=np.float32)
    assert compare_outputs(a, a.copy()) == (0.0, 0)


def test_one_ulp_apart():
    a = np.array([1.0, -2.0, 1e-30], dtype=np.float32)
    b = np.nextafter(a, np.float32(np.inf))
    abs_error, ulp = compare_outputs(a, b)
    assert ulp == 1 and abs_error == pytest.approx(float(np.spacing(np.float32(1.0))))  # 1 -> 1 + 2**-23


def test_signed_zeros_are_equal_and_zero_crossings_count():
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert compare_outputs(np.array([0.0], np.float32), np.array([-0.0], np.float32)) == (0.0, 0)
    assert compare_outputs(np.array([tiny]), np.array([-tiny]))[1] == 2


def test_nan_handling():
    nan = np.array([np.nan], np.float32)
    assert compare_outputs(nan, nan) == (0.0, 0)
    assert compare_outputs(nan, np.array([1.0], np.float32)) == (float("inf"), 2**32)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        compare_outputs(np.zeros((3, 1), np.float32), np.zeros(3, np.float32))


def test_parity_inputs_cover_the_batches_and_leave_the_training_range():
    cases = dict(parity_inputs())
    assert cases["test_split"].shape == (10, 1)
    assert [len(cases[f"random_{b}"]) for b in PARITY_BATCHES] == list(PARITY_BATCHES)
    big = cases[f"random_{PARITY_BATCHES[-1]}"]
    assert big.dtype == np.float32 and big.min() < -1e3 and big.max() > 1e3
    assert ((big >= 0) & (big < 1)).mean() > 0.2  # and inside it, too
    assert np.array_equal(dict(parity_inputs())["random_7"], cases["random_7"])  # seeded


# --- parity in every runtime ------------------------------------------------------------

def test_every_runtime_is_bit_exact_on_cpu(exported):
    report = verify_export(exported)
    assert report.passed, report.table()
    runtimes = {r.runtime for r in report.rows}
    assert {"torchscript", "exported_program", "onnxruntime-cpu", "onnx-reference"} <= runtimes
    assert {r.batch for r in report.rows} >= set(PARITY_BATCHES)
    worst = max(report.rows, key=lambda r: r.max_ulp)
    assert worst.max_ulp == 0, f"max_abs_error {worst.max_abs_error} ({worst.runtime}, {worst.inputs})"


def test_cli_verify_prints_the_table(exported, capsys):
    assert main(["verify", "--export-dir", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "max_ulp" in out and "onnxruntime-cpu" in out and "parity ok" in out


def test_onnx_alone_in_another_folder(exported, checkpoint, tmp_path):
    lonely = tmp_path / "elsewhere" / "renamed.onnx"
    lonely.parent.mkdir()
    shutil.copy2(exported / "model.onnx", lonely)
    session = make_ort_session(lonely)
    for batch in (1, 1_000_000):
        x = np.random.default_rng(batch).uniform(-1e4, 1e4, (batch, 1)).astype(np.float32)
        y = session.run(["y"], {"x": x})[0]
        assert y.shape == (batch, 1)
        abs_error, ulp = compare_outputs(eager(checkpoint, x), y)
        assert ulp == 0, f"batch {batch}: max_abs_error {abs_error}, {ulp} ULP"


def test_parity_failure_is_exit_1_with_a_table(exported, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    copy = copy_export(exported, tmp_path)
    path = copy / "model.onnx"
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == "bias":  # nudge the bias by one ULP: a plausible, subtle export bug
            value = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array(np.nextafter(value, np.float32(10)), "bias"))
    onnx.save(model, str(path))
    manifest = json.loads((copy / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["format"] == "onnx":
            entry["sha256"] = sha256_file(path)  # consistent hashes: only parity can catch it
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ParityError):
        verify_export(copy, raise_on_failure=True)
    assert main(["verify", "--export-dir", str(copy)]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "onnxruntime-cpu" in captured.out
    assert captured.err.startswith("error: parity failed") and captured.err.count("\n") == 1


def test_checkpoint_named_in_manifest_must_match(exported, tmp_path, capsys):
    import torch

    copy = copy_export(exported, tmp_path)
    torch.save({"weights": torch.ones(1), "bias": torch.zeros(1)}, tmp_path / "model.pth")
    with pytest.raises(ArtifactError, match="sha256 differs"):
        verify_export(copy)
    (tmp_path / "model.pth").unlink()
    assert main(["verify", "--export-dir", str(copy)]) == 2
    assert "source checkpoint" in capsys.readouterr().err
    assert main(["verify", "--export-dir", str(copy),
                 "--checkpoint", str(exported.parent / "model.pth")]) == 0


# --- ORT providers ----------------------------------------------------------------------

def test_ort_cpu_session_runs_on_the_cpu_provider(exported):
    session = make_ort_session(exported / "model.onnx", "cpu", threads=1)
    assert session.get_providers()[0] == "CPUExecutionProvider"
    assert session.get_session_options().intra_op_num_threads == 1


def test_ort_cuda_without_a_gpu_is_a_clear_error(exported):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(RuntimeUnavailableError, match="CUDAExecutionProvider"):
        make_ort_session(exported / "model.onnx", "cuda")


def test_ort_silent_fallback_is_caught(exported, monkeypatch):
    """ORT given a provider it cannot load runs on the CPU without raising: we must notice."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime really has CUDA")
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(RuntimeUnavailableError, match="fell back"):
        make_ort_session(exported / "model.onnx", "cuda")


def test_bad_ort_device_and_threads(exported):
    with pytest.raises(RuntimeUnavailableError, match="unknown onnxruntime device"):
        make_ort_session(exported / "model.onnx", "tpu")
    with pytest.raises(RuntimeUnavailableError, match="threads"):
        make_ort_session(exported / "model.onnx", "cpu", threads=0)


@pytest.mark.cuda
def test_ort_cuda_session_runs_on_cuda(exported, checkpoint):
    import onnxruntime as ort
    import torch

    if not torch.cuda.is_available() or "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("needs a CUDA device and onnxruntime-gpu")
    session = make_ort_session(exported / "model.onnx", "cuda")
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    x = np.linspace(-100, 100, 1000, dtype=np.float32).reshape(-1, 1)
    assert compare_outputs(eager(checkpoint, x), session.run(["y"], {"x": x})[0])[1] <= 1


# --- what verify insists on -------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "exported_program"])
def test_verify_checks_what_the_manifest_promises(fmt, exported, tmp_path, capsys):
    """An export without one format (an older folder, before a format existed) still verifies the rest."""
    copy = copy_export(exported, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / next(e["path"] for e in manifest["artifacts"] if e["format"] == fmt)).unlink()
    manifest["artifacts"] = [e for e in manifest["artifacts"] if e["format"] != fmt]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = verify_export(copy)
    assert report.passed and report.rows
    assert not any(r.runtime.startswith({"onnx": "onnx"}.get(fmt, fmt)) for r in report.rows)
    assert ("onnx" in report.checks) == (fmt != "onnx")
    assert main(["verify", "--export-dir", str(copy)]) == 0


def test_a_manifest_without_artifacts_fails(exported, tmp_path, capsys):
    copy = copy_export(exported, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["artifacts"] = []
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="lists no artifact"):
        verify_export(copy)
    assert main(["verify", "--export-dir", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_onnx_from_another_checkpoint_fails(exported, tmp_path, capsys):
    import onnx

    copy = copy_export(exported, tmp_path)
    path = copy / "model.onnx"
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "linreg.source_checkpoint_sha256":
            prop.value = "0" * 64  # the same graph, exported from some other checkpoint
    onnx.save(model, str(path))
    manifest = json.loads((copy / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["format"] == "onnx":
            entry["sha256"] = sha256_file(path)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="exported from checkpoint sha256 000000000000"):
        verify_export(copy)
    assert main(["verify", "--export-dir", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "model.onnx" in err
