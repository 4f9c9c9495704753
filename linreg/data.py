"""Straight-line data y = weight * X + bias, as in the tutorial, and large-N variants."""
from __future__ import annotations

import torch

WEIGHT = 0.7  # the tutorial's true weight
BIAS = 0.3  # the tutorial's true bias
TRAIN_FRACTION = 0.8  # the tutorial's ordered 80/20 split


def make_linear_data(
    weight: float = WEIGHT,
    bias: float = BIAS,
    start: float = 0.0,
    end: float = 1.0,
    step: float = 0.02,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tutorial's data: X = arange(start, end, step) as a column, y = weight * X + bias."""
    X = torch.arange(start, end, step).unsqueeze(dim=1)
    y = weight * X + bias
    return X, y


def make_linear_samples(
    n: int,
    weight: float = WEIGHT,
    bias: float = BIAS,
    start: float = 0.0,
    end: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """N evenly spaced samples on [start, end), as columns: the tutorial's line at any size."""
    if n < 2:
        raise ValueError(f"n must be >= 2 so both splits are non-empty, got {n}")
    # arange(n) / n keeps the spacing exact in float32 where arange(start, end, step) drifts.
    X = (start + (end - start) * (torch.arange(n, dtype=torch.float64) / n)).to(torch.float32)
    X = X.unsqueeze(dim=1)
    y = weight * X + bias
    return X, y


def split_train_test(
    X: torch.Tensor, y: torch.Tensor, train_fraction: float = TRAIN_FRACTION
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ordered split, no shuffling: the first `train_fraction` of samples train, the rest test."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    train_split = int(train_fraction * len(X))  # the tutorial's rounding: int() truncates
    if train_split == 0 or train_split == len(X):
        raise ValueError(f"a split of {len(X)} samples at {train_fraction} leaves one side empty")
    return X[:train_split], y[:train_split], X[train_split:], y[train_split:]
