"""`train` talks like the tutorial, and divergence has one definition for train and sweep."""
from __future__ import annotations

import io
import math

import pytest

from bench.cli import main
from linreg.train import (DIVERGENCE_FACTOR, DivergenceError, EpochRecord, TrainConfig,
                          divergence_reason, train)
from linreg.trainlog import TrainLog


def test_train_prints_the_tutorials_lines_every_10_epochs(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "o"), "--epochs", "25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["Number of testing samples: 10", "Number of predictions made: 10"]
    # The published notebook's first printed line, to the last digit.
    assert lines[2] == "Epoch: 0 | MAE Train Loss: 0.31288138031959534 | MAE Test Loss: 0.48106518387794495"
    assert [ln.split(" |")[0] for ln in lines if ln.startswith("Epoch")] == ["Epoch: 0", "Epoch: 10", "Epoch: 20"]


def test_log_every_and_silence(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "a"), "--epochs", "7", "--log-every", "3",
                 "--loss", "mse"]) == 0
    epochs = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch")]
    assert [ln.split(" |")[0] for ln in epochs] == ["Epoch: 0", "Epoch: 3", "Epoch: 6"]
    assert "MSE Train Loss" in epochs[0]
    assert main(["train", "--out", str(tmp_path / "b"), "--epochs", "7", "--log-every", "0"]) == 0
    assert not any(ln.startswith(("Epoch", "Number")) for ln in capsys.readouterr().out.splitlines())
    assert main(["train", "--out", str(tmp_path / "c"), "--log-every", "-1"]) == 2


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        from bench.cli import build_parser
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: parameter)", "(default: 100)", "(default: 0.01)", "(default: l1)",
                    "(default: sgd)", "(default: 42)", "(default: auto)", "(default: 10)"):
        assert default in text


def test_l1_at_a_huge_lr_is_an_error_and_saves_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["train", "--out", str(out), "--lr", "1e30", "--log-every", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training diverged at epoch 0") and err.count("\n") == 1
    assert not (out / "model.pth").exists()


def test_divergence_carries_its_epoch():
    with pytest.raises(DivergenceError) as info:
        train(TrainConfig(lr=1e30, device="cpu"))
    assert info.value.epoch == 0


@pytest.mark.parametrize("train_loss,test_loss,finite,diverged", [
    (0.5, 0.5, True, False),
    (DIVERGENCE_FACTOR * 0.3, 0.1, True, False),          # exactly at the limit: not over it
    (DIVERGENCE_FACTOR * 0.3 * 1.01, 0.1, True, True),
    (0.1, math.inf, True, True),
    (math.nan, 0.1, True, True),
    (0.1, 0.1, False, True),                               # a non-finite parameter
])
def test_divergence_rule(train_loss, test_loss, finite, diverged):
    start = EpochRecord(0, 0.3, 0.4)
    reason = divergence_reason(EpochRecord(5, train_loss, test_loss), start, finite)
    assert (reason is not None) == diverged


def test_trainlog_rejects_a_negative_interval():
    with pytest.raises(ValueError):
        TrainLog("l1", -1, io.StringIO())
