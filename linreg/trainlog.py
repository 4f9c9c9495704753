"""The tutorial's own progress lines for `train`: the test-set counts, then every N epochs one line."""
from __future__ import annotations

import sys
from typing import TextIO

from linreg.train import EpochRecord

# The tutorial calls its L1 loss MAE; MSE keeps its usual name.
LOSS_NAMES = {"l1": "MAE", "mse": "MSE"}


class TrainLog:
    """`Epoch: 0 | MAE Train Loss: ... | MAE Test Loss: ...` every `every` epochs (0: silent).

    The losses print as Python prints a float (the shortest repr), which is what the tutorial's
    f-string of a 0-d tensor's .item() shows; the published notebook's lines can be diffed.
    """

    def __init__(self, loss: str, every: int = 10, stream: TextIO | None = None) -> None:
        if every < 0:
            raise ValueError(f"log interval must be >= 0, got {every}")
        self.name = LOSS_NAMES.get(loss, loss.upper())
        self.every = every
        self.stream = stream if stream is not None else sys.stdout

    def start(self, test_samples: int, predictions: int) -> None:
        if self.every:
            self.stream.write(f"Number of testing samples: {test_samples}\n"
                              f"Number of predictions made: {predictions}\n")

    def epoch(self, record: EpochRecord) -> None:
        if self.every and record.epoch % self.every == 0:
            self.stream.write(f"Epoch: {record.epoch} | {self.name} Train Loss: {record.train_loss} "
                              f"| {self.name} Test Loss: {record.test_loss}\n")
            self.stream.flush()
