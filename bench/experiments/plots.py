"""The sweep's pictures: test loss against lr, the best trials' curves, the parameters found."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.experiments.trial import ranking_key
from linreg.data import BIAS, WEIGHT
from linreg.files import atomic_path

BEST_CURVES = 5


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_loss_vs_lr(path: Path, records: list[dict[str, Any]]) -> None:
    """Best final test loss per lr, one line per (optimizer, loss, model)."""
    import matplotlib.pyplot as plt
    best: dict[tuple, dict[float, float]] = defaultdict(dict)
    for r in records:
        if r["status"] == "ok" and r["final_test_loss"] > 0:
            c = r["config"]
            line = best[(c["optimizer"], c["loss"], c["model"])]
            line[c["lr"]] = min(line.get(c["lr"], math.inf), r["final_test_loss"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (optimizer, loss, model), points in sorted(best.items()):
        lrs = sorted(points)
        ax.plot(lrs, [points[x] for x in lrs], marker="o", label=f"{optimizer} / {loss} / {model}")
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="best final test loss",
           title="Test loss against learning rate (best over the other settings)")
    if best:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)


def plot_best_curves(path: Path, records: list[dict[str, Any]], varied: list[str]) -> None:
    import matplotlib.pyplot as plt
    ok = sorted((r for r in records if r["status"] == "ok" and r.get("history")), key=ranking_key)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in ok[:BEST_CURVES]:
        label = ", ".join(f"{k}={r['config'][k]}" for k in varied)
        ax.plot(r["history"]["test_loss"], label=label)
    ax.set(yscale="log", xlabel="epoch", ylabel="test loss",
           title=f"Loss curves of the best {min(BEST_CURVES, len(ok))} trials")
    if ok:
        ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    _save(fig, path)


def plot_final_parameters(path: Path, records: list[dict[str, Any]]) -> None:
    import matplotlib.pyplot as plt
    ok = [r for r in records if r["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter([r["weight"] for r in ok], [r["bias"] for r in ok], s=18, alpha=0.7, label="trials")
    ax.scatter([WEIGHT], [BIAS], marker="*", s=250, color="red", label="true (0.7, 0.3)")
    ax.set(xlabel="final weight", ylabel="final bias", title="Final parameters against the true line")
    ax.legend()
    ax.grid(True, alpha=0.3)
    _save(fig, path)


PLOT_FILES = ("test_loss_vs_lr.png", "best_loss_curves.png", "final_parameters.png")


def draw_plot(name: str, out: Path, records: list[dict[str, Any]], varied: list[str]) -> None:
    """One of PLOT_FILES into `out`: a task of its own, so a pool draws the three at once."""
    import matplotlib
    matplotlib.use("Agg")
    if name == "test_loss_vs_lr.png":
        plot_loss_vs_lr(out / name, records)
    elif name == "best_loss_curves.png":
        plot_best_curves(out / name, records, varied)
    elif name == "final_parameters.png":
        plot_final_parameters(out / name, records)
    else:
        raise ValueError(f"unknown sweep plot {name!r}")


def write_plots(out: Path, records: list[dict[str, Any]], varied: list[str]) -> None:
    for name in PLOT_FILES:
        draw_plot(name, out, records, varied)
