"""One trial: exactly `linreg.train.train` with the trial's config, in a worker process."""
from __future__ import annotations

import math
import os
import signal
import time
from typing import Any

from linreg.data import BIAS, WEIGHT
from linreg.environment import pin_threads
from linreg.errors import LinregError, exception_line
from linreg.lifetime import die_with_parent
from linreg.limits import MEMORY_ENV, bound_text, is_out_of_memory, limit_memory
from linreg.train import DivergenceError, TrainConfig, train


def preload() -> None:
    """Import what every trial needs before its first epoch: torch, and torch._dynamo, which the
    optimizer's first step imports (about 1 s on the 2-core machine: without this the first
    trial of every worker reported a train_time_s 1 s too long)."""
    import torch._dynamo  # noqa: F401


def start_worker(memory_gib: float | None = None) -> None:
    """Pool initializer: Ctrl-C is the parent's to handle (it terminates the pool, keeps the done).

    One intra-op thread before any trial: a second thread per trial would only fight the other
    worker for the cores (each trial pins its own count again). `memory_gib` bounds the worker's
    private memory (linreg/limits.py): a trial past it is a failed record naming the bound."""
    if memory_gib and limit_memory(memory_gib):
        os.environ[MEMORY_ENV] = f"{memory_gib:g}"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # pool.terminate()'s SIGTERM ends us; a forked
    # worker would otherwise inherit the sweep's handler and print a Terminated traceback
    die_with_parent()  # kill -9 of the sweep (or of the forkserver it started) ends us too
    preload()
    pin_threads(1)


def line_parameters(state: dict[str, Any]) -> tuple[float, float]:
    """(weight, bias) of either model kind: `weights`/`bias` or `linear_layer.weight`/`.bias`."""
    def scalar(value: Any) -> float:
        while isinstance(value, list):
            value = value[0]
        return float(value)
    weight = next(v for k, v in state.items() if k.endswith(("weights", "weight")))
    bias = next(v for k, v in state.items() if k.endswith("bias"))
    return scalar(weight), scalar(bias)


def epochs_to_target(test_losses: list[float], target: float) -> int | None:
    """The first epoch whose test loss is <= target, or None if none reached it."""
    return next((i for i, loss in enumerate(test_losses) if loss <= target), None)


def run_trial(job: tuple[str, dict[str, Any], float]) -> dict[str, Any]:
    """Train one config; a divergence or a failure is a record, never an exception."""
    tid, config, target = job
    record: dict[str, Any] = {"id": tid, "config": config}
    start = time.perf_counter()
    try:
        result = train(TrainConfig(**config))
    except DivergenceError as exc:
        record.update(status="diverged", diverged_at_epoch=exc.epoch, reason=str(exc))
    except LinregError as exc:
        record.update(status="failed", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a worker must report, not die: the sweep goes on
        line = f"{type(exc).__name__}: {exception_line(exc, 300)}"
        record.update(status="failed", reason=f"out of memory under {bound_text()}: {line}"
                      if is_out_of_memory(exc) else line)
    else:
        test_losses = [r.test_loss for r in result.history]
        weight, bias = line_parameters(result.final_state)
        last = result.history[-1] if result.history else None
        record.update(
            status="ok",
            final_state=result.final_state,
            final_train_loss=last.train_loss if last else None,
            final_test_loss=last.test_loss if last else None,
            weight=weight, bias=bias,
            abs_weight_error=abs(weight - WEIGHT), abs_bias_error=abs(bias - BIAS),
            epochs_to_target=epochs_to_target(test_losses, target),
            history={"train_loss": [r.train_loss for r in result.history], "test_loss": test_losses},
        )
    record["train_time_s"] = time.perf_counter() - start
    return record


def ranking_key(record: dict[str, Any]) -> tuple[float, str]:
    """Finished trials by final test loss (then id, so ties rank the same every time)."""
    loss = record.get("final_test_loss")
    ok = record.get("status") == "ok" and loss is not None and math.isfinite(loss)
    return (loss if ok else math.inf, record["id"])
