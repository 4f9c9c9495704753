import math

import pytest
import torch

from linreg.errors import LinregError
from linreg.progress import Progress
from linreg.train import DivergenceError, TrainConfig, train


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": -1}, "epochs must be"),
        ({"lr": math.nan}, "lr must be"),
        ({"lr": math.inf}, "lr must be"),
        ({"lr": 0.0}, "lr must be"),
        ({"loss": "huber"}, "unknown loss"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"model": "cnn"}, "unknown model"),
        ({"n": 1}, "n must be"),
        ({"threads": 0}, "threads must be"),
    ],
)
def test_config_validates(kwargs, message):
    with pytest.raises(LinregError, match=message):
        TrainConfig(**kwargs)


def test_zero_epochs_keeps_initial_state():
    run = train(TrainConfig(device="cpu", epochs=0))
    assert run.history == []
    assert run.final_state == run.initial_state


@pytest.mark.parametrize("loss, optimizer", [("l1", "sgd"), ("mse", "sgd"), ("l1", "adam"), ("mse", "adam")])
def test_every_loss_and_optimizer_learns(loss, optimizer, device):
    run = train(TrainConfig(device=device, loss=loss, optimizer=optimizer, epochs=300, lr=0.05))
    assert run.history[-1].train_loss < run.history[0].train_loss
    assert run.model.weights.device.type == torch.device(device).type


def test_history_keeps_every_epoch(tutorial_run):
    assert [h.epoch for h in tutorial_run.history] == list(range(100))


def test_large_n_trains(device):
    run = train(TrainConfig(device=device, n=10_000, epochs=5))
    assert len(run.history) == 5 and len(run.test_predictions) == 2_000


def test_divergence_stops_with_clear_error():
    with pytest.raises(DivergenceError, match="diverged at epoch"):
        train(TrainConfig(device="cpu", loss="mse", lr=1e12, epochs=200))


def test_progress_is_quiet_off_a_terminal(capsys):
    import io

    stream = io.StringIO()
    with Progress(10, "train", stream=stream) as bar:
        bar.update(10)
    assert stream.getvalue() == ""
    with Progress(10, "train", stream=stream, enabled=True) as bar:
        bar.update(10)
    assert "10/10" in stream.getvalue()


def test_optimizer_overflow_is_divergence():
    with pytest.raises(DivergenceError, match="diverged at epoch 0"):
        train(TrainConfig(device="cpu", optimizer="adam", lr=1e38, epochs=3))
