"""`linreg-bench predict` from a checkpoint and from an export folder, in every runtime."""
from __future__ import annotations


import pytest

from bench.cli import main

XS = ["0", "0.5", "-2", "1e3", "12345.678"]


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


NEGATIVE = ["-1e5", "-2.5e-3", "-3", "-inf", "-.5", "-1E5"]


def test_negative_scientific_and_inf_inputs_are_numbers(exported, checkpoint, capsys):
    """argparse's own matcher knows only -3 and -2.5; every float literal must reach X."""
    import numpy as np
    import torch

    from linreg.checkpoint import load_model

    _, model = load_model(checkpoint)
    with torch.no_grad():
        ys = model(torch.tensor([float(x) for x in NEGATIVE]).unsqueeze(1)).numpy().ravel()
    expected = [str(np.float32(y)) for y in ys]
    assert expected[3] == "-inf"
    assert main(["predict", "--checkpoint", str(checkpoint), *NEGATIVE]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    for runtime in ("torchscript", "onnxruntime", "exported_program"):  # the same text everywhere
        assert main(["predict", "--export-dir", str(exported), "--runtime", runtime, *NEGATIVE]) == 0
        assert capsys.readouterr().out.splitlines() == expected, runtime


@pytest.mark.parametrize("x, message", [
    ("1e40", "X 1e+40 is outside the float32 range"),
    ("-1e40", "X -1e+40 is outside the float32 range"),
    ("nan", "X must be a finite number"),
    ("-nan", "X must be a finite number"),
    ("abc", "X must be a number"),
])
def test_x_that_float32_cannot_hold_is_one_line(x, message, checkpoint, exported, capsys):
    import warnings

    for source in (["--checkpoint", str(checkpoint)], ["--export-dir", str(exported)]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(["predict", *source, "1", x]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err
        assert [str(w.message) for w in caught] == []


def test_device_auto_works_for_every_runtime(exported, capsys):
    expected = None
    for runtime in ("eager", "torchscript", "onnxruntime", "exported_program"):
        assert main(["predict", "--export-dir", str(exported), "--runtime", runtime,
                     "--device", "auto", "1", "-2"]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        expected = expected or out
        assert out == expected, runtime
    assert main(["predict", "--export-dir", str(exported), "--device", "auto", "1", "-2"]) == 0
    assert capsys.readouterr().out == expected


def test_torch_artifacts_predict_without_autograd(exported, monkeypatch):
    """predict and verify run the TorchScript and ExportedProgram modules under no_grad."""
    import numpy as np
    import torch

    from export import loaders, parity
    from export.predict import predict_export

    grad_modes: list[bool] = []

    def spying(load):  # noqa: ANN001, ANN202
        def wrapped(path, device="cpu"):  # noqa: ANN001, ANN202
            module = load(path, device)

            def call(x):  # noqa: ANN001, ANN202
                grad_modes.append(torch.is_grad_enabled())
                y = module(x)
                assert y.grad_fn is None
                return y
            return call
        return wrapped

    for name in ("load_torchscript", "load_exported_program"):
        monkeypatch.setattr(loaders, name, spying(getattr(loaders, name)))
        monkeypatch.setattr(parity, name, getattr(loaders, name))
    for runtime in ("torchscript", "exported_program"):
        predict_export(exported, runtime, [1.0, 2.0])
    predictors = parity.runtime_predictors(exported, loaders.read_manifest(exported))
    for runtime in ("torchscript", "exported_program"):
        predictors[runtime](np.ones((3, 1), dtype=np.float32))
    assert grad_modes == [False] * 4
