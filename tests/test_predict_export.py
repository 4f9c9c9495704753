"""`linreg-bench predict` from a checkpoint and from an export folder, in every runtime."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from export.exporters import export_all

XS = ["0", "0.5", "-2", "1e3", "12345.678"]


@pytest.fixture(scope="session")
def exported(checkpoint: Path) -> Path:
    out = checkpoint.parent / "export_p"
    export_all(checkpoint, out, verify=False)
    return out


def predict(capsys, *args: str) -> list[str]:
    assert main(["predict", *args, *XS]) == 0
    return capsys.readouterr().out.splitlines()


def test_every_runtime_prints_what_the_checkpoint_prints(exported, checkpoint, capsys):
    expected = predict(capsys, "--checkpoint", str(checkpoint))
    assert len(expected) == len(XS)
    for runtime in ("eager", "torchscript", "onnxruntime", "exported_program"):
        assert predict(capsys, "--export-dir", str(exported), "--runtime", runtime) == expected, runtime
    assert predict(capsys, "--export-dir", str(exported)) == expected  # default: onnxruntime


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "{ckpt}", "--runtime", "onnxruntime"], "needs --export-dir"),
    (["--export-dir", "{exp}", "--runtime", "onnxruntime", "--device", "cuda"], "CUDAExecutionProvider"),
    (["--export-dir", "{exp}", "--runtime", "tflite"], "invalid choice"),
    (["--checkpoint", "{ckpt}", "--export-dir", "{exp}"], "not allowed with"),
])
def test_bad_predict_arguments_are_one_line(args, message, exported, checkpoint, capsys):
    import onnxruntime as ort

    if "cuda" in args and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    argv = [a.format(ckpt=checkpoint, exp=exported) for a in args]
    assert main(["predict", *argv, "1.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
