"""The graphs we export: the model itself for torch runtimes, a flat-tensor wrapper for ONNX.

ORT runs the tutorial's `[N, 1]` broadcasting Mul -> Add graph about 10-100x slower than the same
arithmetic on a flat `[N]` tensor (README: "export and verify", and `linreg-bench export-speed`).
`FlatLine` keeps the `[batch, 1]` interface but computes on `[batch]`:
Reshape -> Mul -> Add -> Reshape. The arithmetic is the eager model's (one float32 multiply,
then one float32 add, no FMA), so its results are bit-identical.
"""
from __future__ import annotations

import torch
from torch import nn

from linreg.models import line_parameters


class FlatLine(nn.Module):
    """y = weight * x + bias on x of shape [batch, 1], computed on the flat [batch] view."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        weight, bias = line_parameters(model)  # 0-d tensors: scalar initializers in ONNX
        self.register_buffer("weight", weight.detach().clone().cpu())
        self.register_buffer("bias", bias.detach().clone().cpu())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(-1) * self.weight + self.bias).reshape(-1, 1)


def example_input(batch: int = 4) -> torch.Tensor:
    """A [batch, 1] float32 example for tracing; 4 (not 0 or 1) so the batch dim stays symbolic."""
    return torch.linspace(0.0, 1.0, batch, dtype=torch.float32).unsqueeze(1)


def batch_dynamic_shapes() -> dict[str, dict[int, object]]:
    """dynamic_shapes for an input named `x`: dimension 0 is a free symbolic `batch`."""
    return {"x": {0: torch.export.Dim("batch")}}
