"""How many rounds `find --own-bench` needs to place a middle commit, at a given run-to-run
spread and step size: the walk's own placement code (bench/history/own_bench.py, `placement`)
on seeded log-normal runs, rounds of (good M bad) added until placed or the cap. A power
calculation, not a measurement: the spreads it is run at are the measured ones (the sd of the
logs over the 50 runs of one commit in results/regressions-layout).

    .venv/bin/python tests/benchmarks/find_power.py > results/history-self/find-power.txt

Prints, per (step, spread): the share of trials placed right and wrong within 2, 3, 4 and 8
rounds, and the mean rounds of those placed.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.history.own_bench import LIKE_BAD, LIKE_GOOD, placement  # noqa: E402

# (step, sd of the logs, what the spread is): the AMD VM's 50 runs at training N=40
CASES = [(1.10, 0.025, "host ratio"), (1.10, 0.041, "host ratio at 10^6"),
         (1.18, 0.134, "time"), (1.29, 0.134, "time"), (1.50, 0.134, "time")]
CAPS, TRIALS, ALPHA = (2, 3, 4, 8), 2000, 0.05


def one_trial(rng: np.random.Generator, step: float, sd: float, cap: int) -> tuple[str, int]:
    """(outcome, rounds) for one trial whose middle commit is like the good end."""
    groups: tuple[list[float], ...] = ([], [], [])
    for k in range(cap):
        for group, mu in zip(groups, (0.0, 0.0, math.log(step))):
            group.append(math.exp(rng.normal(mu, sd)))
        if k >= 1:
            outcome = placement(*groups, ALPHA, "").outcome
            if outcome in (LIKE_GOOD, LIKE_BAD):
                return outcome, k + 1
    return "undecided", cap


def main() -> None:
    print("# .venv/bin/python tests/benchmarks/find_power.py > results/history-self/find-power.txt")
    print(f"# {TRIALS} seeded trials per case; the middle commit is like the good end; p<{ALPHA}")
    print("| step | sd of logs | spread of | " + " | ".join(f"right/wrong in {c}" for c in CAPS)
          + " | mean rounds placed (cap 8) |")
    print("|---|---|---|" + "---|" * (len(CAPS) + 1))
    for step, sd, what in CASES:
        rng = np.random.default_rng(20261207)
        runs = [one_trial(rng, step, sd, max(CAPS)) for _ in range(TRIALS)]
        cells = []
        for cap in CAPS:
            right = sum(o == LIKE_GOOD and r <= cap for o, r in runs) / TRIALS
            wrong = sum(o == LIKE_BAD and r <= cap for o, r in runs) / TRIALS
            cells.append(f"{right:.3f}/{wrong:.3f}")
        placed = [r for o, r in runs if o != "undecided"]
        mean = f"{sum(placed) / len(placed):.2f}" if placed else "-"
        print(f"| {step:.2f}x | {sd:.3f} | {what} | " + " | ".join(cells) + f" | {mean} |")


if __name__ == "__main__":
    main()
