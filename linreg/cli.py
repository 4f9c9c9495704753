"""`linreg-bench train`, and the checkpoint helpers that `predict` (in export/cli.py) uses."""
from __future__ import annotations

import argparse
import math
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

from linreg.checkpoint import load_model, save_checkpoint
from linreg.environment import collect_environment
from linreg.errors import LinregError
from linreg.files import write_json_atomic
from linreg.progress import Progress
from linreg.train import LOSSES, OPTIMIZERS, TrainConfig, TrainResult, train

# Runs with more epochs x samples than this show a progress bar (when stderr is a terminal).
LONG_RUN_WORK = 200_000


def finite_float(text: str) -> float:
    """argparse type: a finite number, or a one-line error naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def number(text: str) -> float:
    """argparse type for inputs X: a float literal that float32 holds (finite, or an explicit inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"X must be a number, got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"X must be a finite number (or inf), got {text!r}")
    try:
        struct.pack("<f", value)  # OverflowError exactly where float32 rounding would give inf
    except OverflowError:
        raise argparse.ArgumentTypeError(f"X {value!r} is outside the float32 range") from None
    return value


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--model", choices=["parameter", "linear"], default=d.model,
                   help="parameter: two nn.Parameter (tutorial model_0); linear: nn.Linear(1, 1)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=finite_float, default=d.lr)
    p.add_argument("--loss", choices=sorted(LOSSES), default=d.loss)
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d.optimizer)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--n", type=int, default=None,
                   help="N evenly spaced samples instead of the tutorial's 50")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch intra-op threads (pinned: large-N results depend on it)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train the tutorial's model and save it")
    add_train_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="folder for model.pth, train.json, plots")
    p.set_defaults(func=cmd_train)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=args.model, epochs=args.epochs, lr=args.lr, loss=args.loss,
        optimizer=args.optimizer, seed=args.seed, device=args.device, n=args.n,
        threads=args.threads,
    )


OUTPUTS = ("predictions.png", "loss_curves.png", "train.json")  # then model.pth, always last


def run_training(config: TrainConfig, out: Path, label: str = "train") -> TrainResult:
    """Train, then publish model.pth, train.json and both plots into `out` as one set.

    Everything is written into a staging folder inside `out` first (created before training, so
    an unwritable `out` fails in a second, not after the run). Publishing removes the old
    model.pth, renames the other files in, and renames model.pth in last: whenever a model.pth
    is present, every file beside it comes from the same run.
    """
    from linreg.plots import plot_loss_curves, plot_predictions  # matplotlib is slow to import

    created = not out.exists()
    staging = _make_staging(out)
    published = False
    try:
        samples = config.n if config.n is not None else 50
        show = config.epochs * samples >= LONG_RUN_WORK
        with Progress(config.epochs, label, enabled=None if show else False) as bar:
            result = train(config, on_epoch=lambda r: bar.update(1, f"loss {r.train_loss:.4g}"))
        record = result.summary()
        record["environment"] = collect_environment(result.device)
        plot_predictions(staging / "predictions.png", result.X_train, result.y_train,
                         result.X_test, result.y_test, result.test_predictions,
                         title=f"{config.model} model after {config.epochs} epochs")
        plot_loss_curves(staging / "loss_curves.png", result.history)
        write_json_atomic(staging / "train.json", record)
        save_checkpoint(result.model, staging / "model.pth")
        (out / "model.pth").unlink(missing_ok=True)
        for name in OUTPUTS + ("model.pth",):
            os.replace(staging / name, out / name)
        published = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not published:
            shutil.rmtree(out, ignore_errors=True)  # a folder this failed run made holds nothing
    return result


def _make_staging(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise LinregError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".train.", suffix=".tmp", dir=out))
    except OSError as exc:
        raise LinregError(f"cannot write into --out {out} ({exc.strerror})") from None


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = run_training(config, args.out)
    last = result.history[-1] if result.history else None
    params = ", ".join(f"{k}={np.asarray(v).ravel().tolist()}" for k, v in result.final_state.items())
    loss = f"train loss {last.train_loss:.6g}, test loss {last.test_loss:.6g}; " if last else ""
    print(f"trained {config.model} for {config.epochs} epochs on {result.device}: {loss}{params}")
    print(f"wrote {args.out}/model.pth, train.json, predictions.png, loss_curves.png")
    return 0


def predict_checkpoint(checkpoint: Path, xs: list[float], device: str = "cpu") -> np.ndarray:
    """Predictions of a checkpoint's model for scalar inputs, as float32."""
    _, model = load_model(checkpoint, device)
    x = torch.tensor(xs, dtype=torch.float32).unsqueeze(1).to(device)
    with torch.inference_mode():
        return model(x).cpu().numpy().ravel()


def format_predictions(ys: np.ndarray) -> str:
    """One prediction per line, the shortest text that round-trips the float32 exactly."""
    return "\n".join(str(np.float32(y)) for y in ys)
