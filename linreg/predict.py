"""Predictions of a checkpoint's model for scalar inputs, and their exact text form."""
from __future__ import annotations

import os

import numpy as np
import torch

from linreg.checkpoint import load_model


def predict_checkpoint(checkpoint: str | os.PathLike[str], xs: list[float],
                       device: str = "cpu") -> np.ndarray:
    """Predictions of a checkpoint's model for scalar inputs, as float32."""
    _, model = load_model(checkpoint, device)
    x = torch.tensor(xs, dtype=torch.float32).unsqueeze(1).to(device)
    with torch.inference_mode():
        return model(x).cpu().numpy().ravel()


def format_predictions(ys: np.ndarray) -> str:
    """One prediction per line, the shortest text that round-trips the float32 exactly."""
    return "\n".join(str(np.float32(y)) for y in ys)
