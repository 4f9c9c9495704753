"""The tutorial's training loop, step for step, on any device, with a full loss history."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from linreg.data import TRAIN_FRACTION, make_linear_data, make_linear_samples, split_train_test
from linreg.device import resolve_device
from linreg.environment import gib, physical_memory_bytes, pin_threads
from linreg.errors import LinregError, exception_line
from linreg.models import MODELS

LOSSES: dict[str, Callable[[], nn.Module]] = {"l1": nn.L1Loss, "mse": nn.MSELoss}
OPTIMIZERS = ("sgd", "adam")
MAX_EPOCHS = 10_000_000   # minutes of the tutorial's model; 10^30 was accepted and never ended
MAX_THREADS = 1024        # torch.set_num_threads raises on 10^30 (a traceback, before this bound)
BYTES_PER_SAMPLE = 64     # x, y, predictions and temporaries in float32: a generous footprint


def _short(value: object) -> str:
    """repr(value), cut: a 4,000-digit number is not worth printing whole."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


# Divergence, defined once for `train` and `sweep`: an epoch whose train or test loss is not finite,
# whose parameters are not finite, or whose train or test loss exceeds DIVERGENCE_FACTOR times the
# loss before training (epoch 0's train loss, computed on the untrained model; floored at
# DIVERGENCE_FLOOR so a perfect start does not flag every later epoch). A loss that grew a
# thousandfold is running away (L1 at lr=1e30 reaches 1e30 after one step) while still finite.
DIVERGENCE_FACTOR = 1000.0
DIVERGENCE_FLOOR = 1e-6


class DivergenceError(LinregError):
    """Training diverged (see DIVERGENCE_FACTOR); `epoch` is the epoch it was detected at."""

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


def divergence_reason(record: "EpochRecord", start: "EpochRecord", params_finite: bool) -> str | None:
    """Why `record` counts as diverged against the first epoch `start`, or None if it does not."""
    losses = (record.train_loss, record.test_loss)
    if not all(math.isfinite(v) for v in losses) or not params_finite:
        return f"train loss {record.train_loss}, test loss {record.test_loss}"
    before = max(start.train_loss, DIVERGENCE_FLOOR)
    if max(losses) > DIVERGENCE_FACTOR * before:
        return (f"loss {max(losses):.4g} is over {DIVERGENCE_FACTOR:g}x the loss before training "
                f"({start.train_loss:.4g})")
    return None


@dataclass(frozen=True)
class TrainConfig:
    model: str = "parameter"   # "parameter" (two nn.Parameter, as in the tutorial) | "linear" (nn.Linear)
    epochs: int = 100          # the tutorial's model_0 run; its nn.Linear run uses 1000
    lr: float = 0.01           # the tutorial's SGD learning rate
    loss: str = "l1"           # "l1" (the tutorial's MAE) | "mse"
    optimizer: str = "sgd"     # "sgd" (the tutorial's) | "adam"
    seed: int = 42             # the tutorial's seed: reproduces its published numbers
    device: str = "auto"       # auto | cpu | cuda | cuda:N | mps; auto prefers CUDA
    n: int | None = None       # None: the tutorial's 50 points (arange(0, 1, 0.02)); else N evenly spaced
    train_fraction: float = TRAIN_FRACTION  # ordered split, as in the tutorial
    threads: int = 1           # torch intra-op threads; at large N results depend on it, so it is pinned

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise LinregError(f"unknown model {self.model!r} (choose from {', '.join(MODELS)})")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or not 0 <= self.epochs <= MAX_EPOCHS:
            raise LinregError(f"epochs must be an integer within [0, {MAX_EPOCHS}], got {_short(self.epochs)}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise LinregError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.loss not in LOSSES:
            raise LinregError(f"unknown loss {self.loss!r} (choose from {', '.join(LOSSES)})")
        if self.optimizer not in OPTIMIZERS:
            raise LinregError(
                f"unknown optimizer {self.optimizer!r} (choose from {', '.join(OPTIMIZERS)})"
            )
        if self.n is not None and self.n < 2:
            raise LinregError(f"n must be >= 2 so both splits are non-empty, got {_short(self.n)}")
        if self.n is not None and self.n * BYTES_PER_SAMPLE > physical_memory_bytes():
            raise LinregError(f"n = {_short(self.n)} samples need about {gib(self.n * BYTES_PER_SAMPLE)}, "
                              f"over this machine's {gib(physical_memory_bytes())} of memory")
        if not 0.0 < self.train_fraction < 1.0:
            raise LinregError(f"train_fraction must be in (0, 1), got {self.train_fraction}")
        if not 1 <= self.threads <= MAX_THREADS:
            raise LinregError(f"threads must be within [1, {MAX_THREADS}], got {_short(self.threads)}")
        # torch.manual_seed wraps values modulo 2**64, so -1 and 2**64 - 1 would be the same run.
        if not 0 <= self.seed < 2**63:
            raise LinregError(f"seed must be in [0, 2**63), got {self.seed}")


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    test_loss: float


@dataclass
class TrainResult:
    config: TrainConfig
    device: torch.device
    model: nn.Module
    initial_state: dict[str, Any]
    final_state: dict[str, Any]
    history: list[EpochRecord]
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    initial_predictions: torch.Tensor  # on X_test, before training (the tutorial's first plot)
    test_predictions: torch.Tensor     # on X_test, after training, on the CPU
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON-ready part of the result (train.json without the environment)."""
        return {
            "config": asdict(self.config),
            "initial_state": self.initial_state,
            "final_state": self.final_state,
            "history": [asdict(r) for r in self.history],
            "initial_predictions": self.initial_predictions.flatten().tolist(),
            "test_predictions": self.test_predictions.flatten().tolist(),
        }


def state_as_lists(model: nn.Module) -> dict[str, Any]:
    """{param name: nested list of floats}; float32 values are exact in a Python float."""
    return {k: v.detach().cpu().tolist() for k, v in model.state_dict().items()}


def make_split(config: TrainConfig) -> tuple[torch.Tensor, ...]:
    X, y = make_linear_data() if config.n is None else make_linear_samples(config.n)
    return split_train_test(X, y, config.train_fraction)


def build_optimizer(name: str, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params=model.parameters(), lr=lr)
    return torch.optim.Adam(params=model.parameters(), lr=lr)


def train_epoch(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    X_train: torch.Tensor,
    y_train: torch.Tensor,
) -> torch.Tensor:
    """One full-batch step, in the tutorial's order; returns the loss tensor (no sync)."""
    model.train()
    y_pred = model(X_train)
    loss = loss_fn(y_pred, y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def evaluate(
    model: nn.Module, loss_fn: nn.Module, X_test: torch.Tensor, y_test: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval mode and inference_mode, as the tutorial's test loop; returns (predictions, loss)."""
    model.eval()
    with torch.inference_mode():
        test_pred = model(X_test)
        test_loss = loss_fn(test_pred, y_test.type(torch.float))
    return test_pred, test_loss


def check_divergence(record: EpochRecord, start: EpochRecord, model: nn.Module) -> None:
    """Raise DivergenceError if `record` diverged (the one rule, see DIVERGENCE_FACTOR)."""
    finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    reason = divergence_reason(record, start, finite)
    if reason is not None:
        raise DivergenceError(f"training diverged at epoch {record.epoch}: {reason} (lower --lr)",
                              record.epoch)


def train(
    config: TrainConfig,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Seed, build the model on the CPU (so every device starts alike), move it, train, evaluate.

    on_start(test samples, predictions made) runs where the tutorial prints those two counts.
    """
    s = _start(config)
    model, loss_fn, (X_train, y_train, X_test, y_test) = s.model, s.loss_fn, s.split
    optimizer = build_optimizer(config.optimizer, model, config.lr)
    initial_predictions = s.initial_predictions
    if on_start is not None:
        on_start(len(X_test), len(initial_predictions))

    history: list[EpochRecord] = []
    for epoch in range(config.epochs):
        try:
            loss = train_epoch(model, loss_fn, optimizer, X_train, y_train)
        except RuntimeError as exc:  # e.g. Adam's step overflowing float32 at a huge lr
            raise DivergenceError(
                f"training diverged at epoch {epoch} ({exception_line(exc, 160)}; lower --lr)", epoch
            ) from None
        _, test_loss = evaluate(model, loss_fn, X_test, y_test)
        # .item() is a CPU-GPU sync point; the history needs every epoch anyway.
        record = EpochRecord(epoch, loss.item(), test_loss.item())
        check_divergence(record, history[0] if history else record, model)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)

    return _finish(s, history)


@dataclass
class _Started:
    """A run set up as the tutorial sets it up: seeded model on its device, data, loss, first predictions."""
    config: TrainConfig
    device: torch.device
    model: nn.Module
    initial_state: dict[str, Any]
    split: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # on the device
    loss_fn: nn.Module
    initial_predictions: torch.Tensor


def _start(config: TrainConfig) -> _Started:
    """Seed, build the model on the CPU (so every device starts alike), move it and the data."""
    device = resolve_device(config.device)
    pin_threads(config.threads)
    try:
        split = make_split(config)
    except (MemoryError, RuntimeError) as exc:  # torch's allocator raises RuntimeError
        raise LinregError(f"not enough memory for n={config.n} samples ({exception_line(exc, 160)})") from None
    torch.manual_seed(config.seed)
    model = MODELS[config.model]()
    initial_state = state_as_lists(model)
    model.to(device)
    X_train, y_train, X_test, y_test = (t.to(device) for t in split)
    loss_fn = LOSSES[config.loss]()
    initial_predictions, _ = evaluate(model, loss_fn, X_test, y_test)
    return _Started(config, device, model, initial_state, (X_train, y_train, X_test, y_test), loss_fn,
                    initial_predictions)


def _finish(s: _Started, history: list[EpochRecord]) -> TrainResult:
    X_train, y_train, X_test, y_test = s.split
    test_predictions, _ = evaluate(s.model, s.loss_fn, X_test, y_test)
    return TrainResult(
        config=s.config,
        device=s.device,
        model=s.model,
        initial_state=s.initial_state,
        final_state=state_as_lists(s.model),
        history=history,
        X_train=X_train.cpu(),
        y_train=y_train.cpu(),
        X_test=X_test.cpu(),
        y_test=y_test.cpu(),
        initial_predictions=s.initial_predictions.cpu(),
        test_predictions=test_predictions.cpu(),
    )


def replay_result(config: TrainConfig, final_state: dict[str, Any], history: list[EpochRecord]) -> TrainResult:
    """The TrainResult of a run already made, from its recorded final state: no epoch runs again.

    A recorded state holds float32 values written exactly as Python floats, so the model, its
    checkpoint and its predictions are those of the run, bit for bit (sweep publishes its best
    trial this way instead of training it twice)."""
    s = _start(config)
    wanted = state_as_lists(s.model)
    if set(final_state) != set(wanted):
        raise LinregError(f"a {config.model} model's state needs {sorted(wanted)}, got {sorted(final_state)}")
    with torch.no_grad():
        for name, tensor in s.model.state_dict().items():
            tensor.copy_(torch.tensor(final_state[name], dtype=tensor.dtype))
    return _finish(s, history)
