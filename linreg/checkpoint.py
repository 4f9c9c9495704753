"""Save and load the tutorial's state_dict checkpoints, safely.

Loading uses `torch.load(weights_only=True)`: a hostile pickle from a stranger cannot run code,
it fails with `Unsupported global` and becomes a CheckpointError naming the file.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from linreg.errors import LinregError
from linreg.files import atomic_path
from linreg.models import MODELS, model_name_for_keys


class CheckpointError(LinregError):
    """A checkpoint is missing, unreadable, corrupt or not one of ours."""


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write model.state_dict() with a plain torch.save, atomically (temp file, then rename)."""
    target = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    return target


def load_state_dict(path: str | os.PathLike[str]) -> tuple[str, dict[str, torch.Tensor]]:
    """Read a checkpoint and return (model name, state_dict); errors name the file."""
    source = Path(path)
    if not source.exists():
        raise CheckpointError(f"checkpoint not found: {source}")
    if not source.is_file():
        raise CheckpointError(f"checkpoint is not a file: {source}")
    try:
        with warnings.catch_warnings():
            # A foreign pickle protocol warns before it fails; the error below says it all.
            warnings.simplefilter("ignore")
            state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt, truncated or hostile files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot load checkpoint {source} ({reason[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {source} does not hold a state_dict of tensors")
    name = model_name_for_keys(set(state))
    if name is None:
        keys = ", ".join(sorted(map(str, state))) or "none"
        raise CheckpointError(f"checkpoint {source} is not a linreg model (keys: {keys})")
    return name, state


def load_model(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[str, nn.Module]:
    """A fresh instance of the checkpoint's model class, loaded and in eval mode on `device`."""
    name, state = load_state_dict(path)
    model = MODELS[name]()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1].strip()
        raise CheckpointError(f"checkpoint {path} does not fit model {name!r} ({reason})") from None
    if any(not torch.isfinite(t).all() for t in state.values()):
        raise CheckpointError(f"checkpoint {path} holds NaN or infinite parameters")
    return name, model.to(device).eval()
