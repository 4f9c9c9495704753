"""pytest-benchmark: one training epoch (L1 + SGD step on the full batch), eager and fused."""
from __future__ import annotations

import pytest
import torch

SIZES = [40, 1_000_000]  # the tutorial's 40 points; a size where memory traffic decides


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("variant", ["eager", "fused"])
def test_train_epoch(benchmark, variant: str, n: int, device: str) -> None:
    from bench.training import make_loop
    from bench.training.loops import make_train_data

    X, y = make_train_data(n, device)
    loop = make_loop(variant, X, y, device)
    step = loop.step
    if device.startswith("cuda"):
        def step() -> None:  # note: a CPU-GPU sync point per call, so the time covers the kernels
            loop.step()
            torch.cuda.synchronize(device)
    benchmark.extra_info.update(phase="train_epoch", runtime=variant, device=device, batch_size=n)
    benchmark(step)
    w, b = loop.parameters()
    assert torch.isfinite(w).all() and torch.isfinite(b).all()
