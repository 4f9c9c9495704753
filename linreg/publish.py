"""Train, then publish model.pth, train.json and both plots into one folder as one set."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from linreg.checkpoint import save_checkpoint
from linreg.destinations import claim_folder, json_record_is_ours
from linreg.environment import collect_environment
from linreg.errors import LinregError
from linreg.files import pid_alive, write_json_atomic
from linreg.progress import Progress
from linreg.train import EpochRecord, TrainConfig, TrainResult, train
from linreg.trainlog import TrainLog

# Runs with more epochs x samples than this show a progress bar (when stderr is a terminal).
LONG_RUN_WORK = 200_000
OUTPUTS = ("predictions.png", "loss_curves.png", "train.json")  # then model.pth, always last


def run_training(config: TrainConfig, out: Path, label: str = "train",
                 log: TrainLog | None = None) -> TrainResult:
    """Train, then publish model.pth, train.json and both plots into `out` as one set.

    Everything is written into a staging folder inside `out` first (created before training, so
    an unwritable `out` fails in a second, not after the run). Publishing removes the old
    model.pth, renames the other files in, and renames model.pth in last: whenever a model.pth
    is present, every file beside it comes from the same run.
    """
    def run() -> TrainResult:
        samples = config.n if config.n is not None else 50
        show = config.epochs * samples >= LONG_RUN_WORK
        with Progress(config.epochs, label, enabled=None if show else False) as bar:
            def on_epoch(r: EpochRecord) -> None:
                bar.update(1, f"loss {r.train_loss:.4g}")
                if log is not None:
                    log.epoch(r)

            return train(config, on_epoch=on_epoch, on_start=log.start if log else None)
    return _publish(out, run)


def publish_result(result: TrainResult, out: Path) -> TrainResult:
    """Publish a result already in hand (linreg.train.replay_result) as run_training would."""
    return _publish(out, lambda: result)


def _publish(out: Path, produce: Callable[[], TrainResult]) -> TrainResult:
    from linreg.plots import plot_loss_curves, plot_predictions  # matplotlib is slow to import

    created = not out.exists()
    staging = _make_staging(out)
    published = False
    try:
        result = produce()
        config = result.config
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


_TRAIN_RECORD = json_record_is_ours("train.json", ("config", "final_state"))
_STAGING = re.compile(r"\.train\.(?:\d+\.)?[a-z0-9_]{8}\.tmp")


def _train_folder(out: Path) -> bool:
    """A train folder from before OWNER_MARKER: its train.json, or only killed trains' staging."""
    return _TRAIN_RECORD(out) or all(_STAGING.fullmatch(p.name) for p in out.iterdir())


def _make_staging(out: Path) -> Path:
    claim_folder(out, "train", _train_folder)  # a user's folder is refused before training
    try:
        remove_debris(out)
        return Path(tempfile.mkdtemp(prefix=f".train.{os.getpid()}.", suffix=".tmp", dir=out))
    except OSError as exc:
        raise LinregError(f"cannot write into --out {out} ({exc.strerror})") from None


def remove_debris(out: Path) -> list[Path]:
    """Remove the `.train.PID.*.tmp` staging folders of killed trains in `out` (their process is
    gone), and pid-less `.train.*.tmp` of older versions. Real folders only. Returns them."""
    with_pid = re.compile(r"\.train\.(\d+)\.[a-z0-9_]{8}\.tmp")
    legacy = re.compile(r"\.train\.[a-z0-9_]{8}\.tmp")
    removed = []
    for path in out.iterdir():
        match = with_pid.fullmatch(path.name)
        stale = (not pid_alive(int(match.group(1)))) if match else bool(legacy.fullmatch(path.name))
        if stale and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
