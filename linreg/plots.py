"""The tutorial's two figures, drawn with matplotlib's Agg backend and written atomically as PNG."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from linreg.files import atomic_path  # noqa: E402
from linreg.train import EpochRecord  # noqa: E402

MAX_POINTS = 2000  # per series; scatter of millions of points takes minutes in Agg


def plot_predictions(
    path: str | os.PathLike[str],
    train_data: torch.Tensor,
    train_labels: torch.Tensor,
    test_data: torch.Tensor,
    test_labels: torch.Tensor,
    predictions: torch.Tensor | None = None,
    title: str | None = None,
) -> Path:
    """Training data blue, test data green, predictions red: the tutorial's plot_predictions."""
    fig, ax = plt.subplots(figsize=(10, 7))
    ax.scatter(_thin(train_data), _thin(train_labels), c="b", s=4, label="Training data")
    ax.scatter(_thin(test_data), _thin(test_labels), c="g", s=4, label="Testing data")
    if predictions is not None:
        ax.scatter(_thin(test_data), _thin(predictions), c="r", s=4, label="Predictions")
    ax.set_xlabel("X")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    ax.legend(prop={"size": 14})
    return _save(fig, path)


def plot_loss_curves(
    path: str | os.PathLike[str], history: Sequence[EpochRecord], title: str | None = None
) -> Path:
    """Train and test loss per epoch, as in the tutorial's "Training and test loss curves"."""
    fig, ax = plt.subplots(figsize=(10, 7))
    epochs = [r.epoch for r in history]
    ax.plot(epochs, [r.train_loss for r in history], label="Train loss")
    ax.plot(epochs, [r.test_loss for r in history], label="Test loss")
    ax.set_title(title or "Training and test loss curves")
    ax.set_ylabel("Loss")
    ax.set_xlabel("Epochs")
    ax.legend()
    return _save(fig, path)


def _thin(t: torch.Tensor, max_points: int = MAX_POINTS) -> torch.Tensor:
    """Every k-th point, so a 10^7-sample run plots in a second and looks the same."""
    t = t.detach().cpu().flatten()
    step = max(1, len(t) // max_points)
    return t[::step]


def _save(fig: plt.Figure, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return target
