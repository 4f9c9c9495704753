"""Shared fixtures: a `device` fixture over cpu (and cuda when present), a trained checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from linreg.checkpoint import save_checkpoint
from linreg.train import TrainConfig, TrainResult, train

DEVICES = ["cpu"] + [pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    return request.param


@pytest.fixture(scope="session")
def tutorial_run() -> TrainResult:
    """The tutorial's model_0 run: seed 42, 100 epochs, L1 + SGD(0.01), on the CPU."""
    return train(TrainConfig(device="cpu"))


@pytest.fixture(scope="session")
def checkpoint(tutorial_run: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "model.pth"
    save_checkpoint(tutorial_run.model, path)
    return path


@pytest.fixture(scope="session")
def exported(checkpoint: Path) -> Path:
    """One verified export of the tutorial checkpoint, beside it: <tmp>/ckpt/export (read-only use)."""
    from export.exporters import export_all

    out = checkpoint.parent / "export"
    export_all(checkpoint, out)
    return out
