"""Save and load the tutorial's state_dict checkpoints, safely.

Loading uses `torch.load(weights_only=True)`: a hostile pickle from a stranger cannot run code,
it fails with `Unsupported global` and becomes a CheckpointError naming the file.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from linreg.errors import LinregError
from linreg.files import atomic_path
from linreg.models import MODELS, model_name_for_keys
from linreg.untrusted import UntrustedFileError, check_regular_file

MAX_CHECKPOINT_BYTES = 1 << 30  # a linreg state_dict is ~1 KB; 1 GiB bounds what a stranger makes us read


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
        check_regular_file(source, MAX_CHECKPOINT_BYTES)  # no FIFO or device, no 10 GB "checkpoint"
    except UntrustedFileError as exc:
        raise CheckpointError(f"checkpoint {exc}") from None
    try:
        with warnings.catch_warnings():
            # A foreign pickle protocol warns before it fails; the error below says it all.
            warnings.simplefilter("ignore")
            state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt, truncated or hostile files
        raise CheckpointError(f"cannot load checkpoint {source} ({_load_failure(exc)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {source} does not hold a state_dict of tensors")
    name = model_name_for_keys(set(state))
    if name is None:
        keys = ", ".join(sorted(map(str, state))) or "none"
        raise CheckpointError(f"checkpoint {source} is not a linreg model (keys: {keys[:200]})")
    for key, tensor in state.items():
        problem = None
        if tensor.layout != torch.strided:
            problem = f"{key} is a {str(tensor.layout).removeprefix('torch.')} tensor"
        elif tensor.is_meta:
            problem = f"{key} is a meta tensor with no data"
        elif not tensor.is_floating_point():
            problem = f"{key} holds {str(tensor.dtype).removeprefix('torch.')}, not floating point"
        if problem:
            raise CheckpointError(f"checkpoint {source} is not a linreg model ({problem})")
    return name, state


def _load_failure(exc: Exception) -> str:
    """One short, plain line for why torch.load refused a file (no ANSI codes, no bad advice)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if "Weights only load failed" in text or "Unsupported global" in text:
        # torch's text advises weights_only=False: exactly wrong for a stranger's file.
        return "it holds pickled Python objects, not a plain state_dict; refusing to unpickle them"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(". ")[0][:200]


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
    # Checked after the cast to the model's float32: 1e300 in a float64 file becomes inf here.
    if any(not torch.isfinite(p).all() for p in model.state_dict().values()):
        raise CheckpointError(f"checkpoint {path} holds NaN or infinite parameters (as float32)")
    return name, model.to(device).eval()
