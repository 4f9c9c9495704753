"""The tutorial's two models. Their state_dict keys are the tutorial's, so files move both ways."""
from __future__ import annotations

import torch
from torch import nn


class LinearRegressionModel(nn.Module):
    """y = weights * x + bias with two scalar nn.Parameters, initialised by torch.randn(1)."""

    def __init__(self) -> None:
        super().__init__()
        # Order matters for reproducibility: weights draws first, then bias (tutorial order).
        self.weights = nn.Parameter(torch.randn(1, dtype=torch.float), requires_grad=True)
        self.bias = nn.Parameter(torch.randn(1, dtype=torch.float), requires_grad=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights * x + self.bias


class LinearRegressionModelV2(nn.Module):
    """The same line through nn.Linear(1, 1), named `linear_layer` as in the tutorial."""

    def __init__(self) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_features=1, out_features=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


MODELS: dict[str, type[nn.Module]] = {
    "parameter": LinearRegressionModel,
    "linear": LinearRegressionModelV2,
}

# The exact state_dict keys of each model, used to infer the class of a checkpoint.
STATE_KEYS: dict[str, frozenset[str]] = {
    "parameter": frozenset({"weights", "bias"}),
    "linear": frozenset({"linear_layer.weight", "linear_layer.bias"}),
}


def build_model(name: str) -> nn.Module:
    """A fresh model by name; draws its parameters from torch's global RNG."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})") from None


def model_name_for_keys(keys: set[str] | frozenset[str]) -> str | None:
    """Which model a state_dict belongs to, or None when the keys match neither."""
    for name, expected in STATE_KEYS.items():
        if frozenset(keys) == expected:
            return name
    return None


def line_parameters(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of either model as 0-d tensors, for fused steps and exports."""
    if isinstance(model, LinearRegressionModel):
        return model.weights.reshape(()), model.bias.reshape(())
    if isinstance(model, LinearRegressionModelV2):
        return model.linear_layer.weight.reshape(()), model.linear_layer.bias.reshape(())
    raise TypeError(f"not a linreg model: {type(model).__name__}")
