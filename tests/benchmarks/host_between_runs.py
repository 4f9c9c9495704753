"""Did the host hold its speed between the runs whose published times moved? A re-analysis.

The target "estimate_s max/min <= 1.15 over 10 separate runs on a quiet machine" assumes that
the machine runs the same code at the same speed from one run to the next. Each measurement's
companion reference is fixed code in a clean process (bench/engine/reference.py), so its draws'
reference times are the host's speed during that run, measured beside the workload. For every committed series of 10 runs (results/spread/*/runNN/results.json) and each
measurement, over the runs:
  - estimate: max/min of estimate_s (the published time, the run's fast state);
  - reference time: max/min of the first quartile of the draws' reference times (the host's speed in
    its fast state, as estimate_s is the workload's);
  - host ratio: max/min of the host-normalised ratio (what compare gates on; not a time);
  - corr: the correlation of log estimate_s with log reference time across the runs;
  - held 10%: the most runs whose reference times lie within 10% of each other (a window), and
    the estimate's max/min over those runs only. Runs are chosen by a measured state of the host,
    never rescaled.
A memory-bound reference (`stream`, `ort-stream`) also drifts on its own between its processes
(results/spread/README.md), so at 10^6 the reference is a rougher reading of the host.

    .venv/bin/python tests/benchmarks/host_between_runs.py > results/spread/host-between-runs.md
"""
from __future__ import annotations

import json
import math
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.engine.estimate import quantile  # noqa: E402  (after the path: this checkout's bench)
from host_state import reference_times  # noqa: E402  (tests/benchmarks)
from records import short_commit  # noqa: E402

TARGET = 1.15  # the max/min for the published time
HELD = 1.10    # the host's speed within 10% between runs: a quiet machine between runs


def run_figures(m: dict[str, Any]) -> tuple[float, float, float] | None:
    """(estimate_s, reference time, host ratio) of one measurement, or None without a reference."""
    host = m["estimate"].get("host") or {}
    refs = reference_times(m["estimate"].get("draw_medians_s") or [], host.get("draw_ratios") or [])
    if not refs or not host.get("ratio"):
        return None
    return m["estimate_s"], quantile(refs, 0.25), host["ratio"]


def series(folder: Path) -> dict[str, tuple[str, list[tuple[float, float, float]]]]:
    """{measurement: (reference kind, [(estimate, reference, ratio) per run])}."""
    per: dict[str, tuple[str, list[tuple[float, float, float]]]] = {}
    for path in sorted(folder.glob("run*/results.json")):
        for m in json.loads(path.read_text())["measurements"]:
            figures = run_figures(m) if m.get("estimate_s") and m.get("estimate") else None
            if figures:
                key = f"{m['phase']}/{m['runtime']}/{m['batch_size']}"
                per.setdefault(key, (m["estimate"]["host"]["reference"], []))[1].append(figures)
    return per


def spread(values: list[float]) -> float:
    return max(values) / min(values)


def correlation(a: list[float], b: list[float]) -> float:
    """Pearson's correlation of the logs (nan where one side never moved)."""
    la, lb = np.log(a), np.log(b)
    return float(np.corrcoef(la, lb)[0, 1]) if la.std() and lb.std() else math.nan


def held_window(runs: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """The most runs whose reference times lie within HELD of the window's fastest (the first
    such window from the fastest on, where several are as large)."""
    ordered = sorted(runs, key=lambda r: r[1])
    best: list[tuple[float, float, float]] = []
    for i, low in enumerate(ordered):
        window = [r for r in ordered[i:] if r[1] <= HELD * low[1]]
        if len(window) > len(best):
            best = window
    return best


def cell(value: float) -> str:
    return f"**{value:.3f}**" if value > TARGET else f"{value:.3f}"


def main() -> int:
    print("# Did the host hold its speed between the runs? (estimate_s against the fixed reference)\n\n"
          "- command: `.venv/bin/python tests/benchmarks/host_between_runs.py >"
          " results/spread/host-between-runs.md`\n"
          f"- commit `{short_commit()}`, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC;"
          " pure re-analysis of the committed runs (each series' conditions: its README)\n"
          f"- max/min over the series' runs; **bold**: over {TARGET}. What each column is: the"
          " script's docstring\n")
    print("| series | measurement | reference | estimate | reference time | host ratio | corr |"
          " held 10%: runs | held 10%: estimate |")
    print("|---|---|---|---|---|---|---|---|---|")
    missed, held_rows, held_met, window_met, window_rows = [], 0, 0, 0, 0
    for folder in sorted(p for p in (ROOT / "results" / "spread").iterdir() if p.is_dir()):
        for key, (kind, runs) in series(folder).items():
            if len(runs) < 10:
                continue
            est, ref, ratio = (spread([r[i] for r in runs]) for i in range(3))
            window = held_window(runs)
            w_est = spread([r[0] for r in window]) if len(window) > 1 else math.nan
            corr = correlation([r[0] for r in runs], [r[1] for r in runs])
            print(f"| {folder.name} | {key} | {kind} | {cell(est)} | {ref:.3f} | {ratio:.3f} | {corr:+.2f} |"
                  f" {len(window)}/{len(runs)} | {cell(w_est) if len(window) > 1 else '-'} |")
            if est > TARGET:
                missed.append((folder.name, key, est, ref))
            if ref <= HELD:
                held_rows += 1
                held_met += est <= TARGET
            if len(window) >= 5:
                window_rows += 1
                window_met += w_est <= TARGET
    print(f"\nRows whose reference held within {HELD - 1:.0%} over all their runs: {held_rows};"
          f" estimate within {TARGET}: {held_met} of them.")
    print(f"Rows with at least 5 runs at one host speed (reference within {HELD - 1:.0%}): {window_rows};"
          f" estimate within {TARGET} over those runs: {window_met} of them.")
    moved = [ref for *_, ref in missed if ref > HELD]
    print(f"Rows whose estimate missed {TARGET}: {len(missed)}; in {len(moved)} of them the reference's"
          f" own time moved more than {HELD - 1:.0%} between the runs ({min(moved, default=math.nan):.3f}"
          f"-{max(moved, default=math.nan):.3f}x); the others (estimate / reference): "
          + (", ".join(f"{name} {key} {est:.3f} / {ref:.3f}" for name, key, est, ref in missed if ref <= HELD)
             or "none") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
