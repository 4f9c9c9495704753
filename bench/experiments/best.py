"""`best/`: the best trial's model, train.json and plots, published as `linreg-bench train` would."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from linreg.errors import LinregError

BEST_DIR = "best"


def publish_best(out: Path, best: dict[str, Any]) -> None:
    """Publish the best trial into out/best from its recorded final state (train's own publisher).

    Nothing is trained again: the trial's record holds its final parameters exactly (float32 in a
    Python float) and its loss history, so model.pth and the predictions are the trial's own."""
    from linreg.publish import publish_result
    from linreg.train import EpochRecord, TrainConfig, replay_result

    history = [EpochRecord(i, train, test) for i, (train, test)
               in enumerate(zip(best["history"]["train_loss"], best["history"]["test_loss"]))]
    result = replay_result(TrainConfig(**best["config"]), best["final_state"], history)
    if result.final_state != best["final_state"]:
        raise LinregError(f"the best trial {best['id']} did not load back bit for bit into best/")
    publish_result(result, out / BEST_DIR)
