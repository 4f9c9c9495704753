"""`linreg-bench train` and `predict` end to end through main([...]), and every bad input."""
import json
import pickle

import pytest
import torch

from bench.cli import main

ENV_KEYS = {"python", "torch", "numpy", "platform", "cpu_model", "torch_threads", "device",
            "device_name", "cuda_version"}


def test_train_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--device", "cpu"]) == 0
    assert {p.name for p in out.iterdir()} == {
        "model.pth", "train.json", "predictions.png", "loss_curves.png", ".linreg-bench-out"}
    record = json.loads((out / "train.json").read_text())
    assert {"config", "environment", "initial_state", "final_state", "history",
            "test_predictions"} <= set(record)
    assert ENV_KEYS <= set(record["environment"])
    assert record["environment"]["torch_threads"] == record["config"]["threads"] == 1
    assert record["config"]["seed"] == 42 and record["config"]["epochs"] == 100
    assert record["final_state"] == {"weights": [0.5784404277801514], "bias": [0.3513098657131195]}
    assert len(record["history"]) == 100
    assert set(record["history"][0]) == {"epoch", "train_loss", "test_loss"}
    assert len(record["test_predictions"]) == 10
    for png in ("predictions.png", "loss_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "trained parameter for 100 epochs" in capsys.readouterr().out


def test_predict_from_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--device", "cpu", "--model", "linear",
                 "--epochs", "10", "--n", "200"]) == 0
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(out / "model.pth"), "0", "0.5", "-2", "1e3"]) == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 4
    state = torch.load(out / "model.pth", weights_only=True)
    w, b = state["linear_layer.weight"].item(), state["linear_layer.bias"].item()
    expected = (torch.tensor([0.0, 0.5, -2.0, 1e3]) * torch.tensor(w) + torch.tensor(b)).tolist()
    assert [float(v) for v in lines] == pytest.approx(expected, rel=1e-6)


def _bad_files(tmp_path):
    torch.save({"foo": torch.ones(1)}, tmp_path / "foreign.pth")
    with open(tmp_path / "foreign.pkl", "wb") as f:
        pickle.dump({"weights": [1.0], "bias": [2.0]}, f)
    (tmp_path / "corrupt.pth").write_bytes(b"\x00garbage")
    return tmp_path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "-1"], "epochs must be"),
        (["train", "--lr", "nan"], "lr"),
        (["train", "--lr", "inf"], "lr"),
        (["train", "--lr", "abc"], "lr"),
        (["train", "--loss", "huber"], "loss"),
        (["train", "--device", "tpu"], "unknown device 'tpu'"),
        (["train", "--epochs", "ten"], "epochs"),
        (["predict", "--checkpoint", "{tmp}/model.pth", "1.0"], "checkpoint not found"),
        (["predict", "--checkpoint", "{tmp}/corrupt.pth", "1.0"], "corrupt.pth"),
        (["predict", "--checkpoint", "{tmp}/foreign.pth", "1.0"], "is not a linreg model"),
        (["predict", "--checkpoint", "{tmp}/foreign.pkl", "1.0"], "foreign.pkl"),
        (["predict", "--checkpoint", "{tmp}/model.pth", "one"], "X must be a number"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    _bad_files(tmp_path)
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert not (out / "model.pth").exists()


def test_absent_cuda_is_an_error_not_a_fallback(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(["train", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "not available" in capsys.readouterr().err
    assert not (tmp_path / "model.pth").exists()


def test_divergence_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["train", "--loss", "mse", "--lr", "1e12", "--epochs", "200", "--out", str(out)]
    assert main(argv) == 2
    assert "diverged" in capsys.readouterr().err
    assert not out.exists()


def test_out_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    assert main(["train", "--epochs", "1", "--out", str(target)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out


def test_rerun_into_a_folder_publishes_a_consistent_set(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "5"]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(["train", "--out", str(out), "--epochs", "7"]) == 0
    record = json.loads((out / "train.json").read_text())
    assert record["config"]["epochs"] == 7
    assert (out / "notes.txt").read_text() == "mine"  # the user's other files are left alone
    assert sorted(p.name for p in out.iterdir()) == [
        ".linreg-bench-out", "loss_curves.png", "model.pth", "notes.txt", "predictions.png", "train.json"]


def test_a_failed_rerun_keeps_no_model_from_another_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "5"]) == 0
    assert main(["train", "--out", str(out), "--loss", "mse", "--lr", "1e12"]) == 2
    # The old set is untouched (the failed run published nothing), and no staging debris.
    assert json.loads((out / "train.json").read_text())["config"]["epochs"] == 5
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".linreg-bench-out"]


@pytest.mark.parametrize("seed", ["-1", str(2**64 - 1), "99999999999999999999"])
def test_seed_out_of_range(tmp_path, capsys, seed):
    assert main(["train", "--seed", seed, "--out", str(tmp_path / "o")]) == 2
    assert "seed must be in" in capsys.readouterr().err


def test_train_removes_debris_of_killed_trains(tmp_path, capsys):
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (out / f".train.{dead}.abcd1234.tmp").mkdir()           # a killed train's staging folder
    (out / ".train.abcd_123.tmp").mkdir()                    # an older version's (no pid)
    (out / f".train.{os.getppid()}.live5678.tmp").mkdir()    # a running process's: kept
    assert main(["train", "--out", str(out), "--device", "cpu", "--epochs", "2"]) == 0
    assert {p.name for p in out.iterdir() if p.name.startswith(".")} == {
        f".train.{os.getppid()}.live5678.tmp", ".linreg-bench-out"}
