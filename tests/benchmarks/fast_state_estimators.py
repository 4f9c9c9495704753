"""Which figure of a run's draws reproduces between separate runs? A re-analysis, no measurement.

For every committed series of 10 separate `bench` runs (results/spread/*/runNN/results.json),
each measurement's max/min over the runs of five candidate figures, all times this run measured:
  - median: the median of the draw medians;
  - q1: their first quartile (estimate_s, bench/engine/estimate.py);
  - host-fast 5% / 10%: the median of the draws whose companion reference (fixed code, so its
    time is the host's state) was within 5% / 10% of the run's fastest reference draw; a draw's
    reference time is its median over its host ratio;
  - raw: the median of all samples.
The issue's target is max/min <= 1.15. A whole run in a slow phase moves every figure of it:
none of them is a correction, and none is scaled.

    .venv/bin/python tests/benchmarks/fast_state_estimators.py > results/spread/estimators.md
"""
from __future__ import annotations

import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.engine.estimate import quantile  # noqa: E402  (after the path: this checkout's bench)
from host_state import host_fast_draws, reference_times  # noqa: E402  (tests/benchmarks)
from records import short_commit  # noqa: E402

FIGURES = ("median", "q1", "host-fast 5%", "host-fast 10%", "raw")
TARGET = 1.15


def figures(m: dict[str, Any]) -> dict[str, float]:
    draws = m["estimate"]["draw_medians_s"]
    out = {"median": statistics.median(draws), "q1": quantile(draws, 0.25),
           "raw": statistics.median(m["times_s"])}
    ratios = (m["estimate"].get("host") or {}).get("draw_ratios") or []
    if reference_times(draws, ratios):
        out["host-fast 5%"] = statistics.median(host_fast_draws(draws, ratios, 0.05))
        out["host-fast 10%"] = statistics.median(host_fast_draws(draws, ratios, 0.10))
    return out


def series_rows(folder: Path) -> dict[str, list[dict[str, float]]]:
    per: dict[str, list[dict[str, float]]] = {}
    for path in sorted(folder.glob("run*/results.json")):
        for m in json.loads(path.read_text())["measurements"]:
            if m.get("times_s") and (m.get("estimate") or {}).get("draw_medians_s"):
                per.setdefault(f"{m['phase']}/{m['runtime']}/{m['batch_size']}", []).append(figures(m))
    return per


def spread(runs: list[dict[str, float]], figure: str) -> float | None:
    values = [r[figure] for r in runs if figure in r]
    return max(values) / min(values) if len(values) == len(runs) else None


def main() -> int:
    print("# Which figure reproduces over 10 separate runs\n\n- command: `.venv/bin/python"
          " tests/benchmarks/fast_state_estimators.py > results/spread/estimators.md`\n"
          f"- commit `{short_commit()}`, written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC;"
          " pure re-analysis of the committed runs (each series' conditions: its README)\n"
          f"- max/min over the series' runs; **bold**: over {TARGET}. What each figure is: the"
          " script's docstring\n")
    met = {f: [0, 0] for f in FIGURES}
    print("| series | measurement | " + " | ".join(FIGURES) + " |")
    print("|---|---|" + "---|" * len(FIGURES))
    for folder in sorted(p for p in (ROOT / "results" / "spread").iterdir() if p.is_dir()):
        for key, runs in series_rows(folder).items():
            if len(runs) < 10:
                continue
            cells = []
            for f in FIGURES:
                s = spread(runs, f)
                if s is not None:
                    met[f][0] += s <= TARGET
                    met[f][1] += 1
                cells.append("-" if s is None else (f"{s:.3f}" if s <= TARGET else f"**{s:.3f}**"))
            print(f"| {folder.name} | {key} | " + " | ".join(cells) + " |")
    print("\nWithin the target, of the rows with the figure: "
          + "; ".join(f"{f} {a}/{b}" for f, (a, b) in met.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
