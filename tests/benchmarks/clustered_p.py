"""Would a p-value that knows draws of one process are not independent make better verdicts?

compare's U test treats a run's 18 draws (3 processes x 6 rounds) as independent. They are not:
over the 50 BASE runs of results/regressions-layout the host ratio's sd of logs splits into
draw 6.0% / process 3.5% / run 2.6% at 10^6 rows (5.8 / 1.6 / 0 at batch 1, 7.5 / 3.7 / 0.8 at
training N=40). This gates every committed pair of results/regressions*/ and results/spread/
(the census's pairs: tests/benchmarks/verdict_census.py) on the draws' host ratios two ways, with
compare's threshold, levels and times-confirmation rule:

- naive: the U test's p on the draws, as compare does;
- design effect: the U test's z divided by sqrt(1 + (m - 1) ICC) (Kish), the intraclass
  correlation of the draws within processes estimated from the pair itself (one-way ANOVA on the
  logs, each side centred on its own mean), m the draws per process;

at several levels, and counts real changes of 10% or more called the right way, and false alarms
on consecutive runs of one configuration, per size. Nothing is measured or rescaled.

    .venv/bin/python tests/benchmarks/clustered_p.py > results/verdicts/clustered.txt
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.compare.witness import DRIFTING_REFERENCES  # noqa: E402
from bench.compare.gate import DEFAULT_ALPHA, STABLE_HOST_ALPHA  # noqa: E402
from bench.compare.significance import mann_whitney_u  # noqa: E402
from tests.benchmarks.verdict_census import (  # noqa: E402
    big_change, consecutive, null_series, regression_pairs, size_class)

THRESHOLD = 0.05
Side = tuple[list[list[float]], list[float], str]  # log ratios by process, draw times, reference


def sides(path: Path) -> dict[str, Side]:
    """Each usable host-ratio measurement of a results.json: its draws' log ratios grouped by
    process, its draws' times, its reference kind."""
    out: dict[str, Side] = {}
    for m in json.loads(path.read_text())["measurements"]:
        host = (m.get("estimate") or {}).get("host") or {}
        if not host.get("usable") or "processes" not in m:
            continue
        draws = [p["draws"] for p in m["processes"]]
        if any("ratio" not in d for p in draws for d in p):
            continue
        label = f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}"
        out[label] = ([[math.log(d["ratio"]) for d in p] for p in draws],
                      [d["median_s"] for p in draws for d in p], host["reference"])
    return out


def design_effect(groups: list[list[float]]) -> float:
    """1 + (m - 1) ICC from a one-way ANOVA over the groups (ICC floored at 0)."""
    k, n = len(groups), sum(len(g) for g in groups)
    if k < 2 or n <= k:
        return 1.0
    grand = float(np.mean(np.concatenate(groups)))
    msb = sum(len(g) * (np.mean(g) - grand) ** 2 for g in groups) / (k - 1)
    msw = sum(float(((np.asarray(g) - np.mean(g)) ** 2).sum()) for g in groups) / (n - k)
    m0 = n / k
    between = max((msb - msw) / m0, 0.0)
    icc = between / (between + msw) if between + msw > 0 else 0.0
    return 1.0 + (m0 - 1.0) * icc


def said(base: Side, new: Side, clustered: bool, level: float | None) -> str:
    """slower | faster | none, by compare's rule on the host ratios at this p."""
    xb, xn = np.concatenate(base[0]), np.concatenate(new[0])
    ratio = math.exp(float(np.median(xn) - np.median(xb)))
    p = mann_whitney_u(xb, xn)
    if clustered:
        centred = [list(np.asarray(g) - xb.mean()) for g in base[0]] + \
                  [list(np.asarray(g) - xn.mean()) for g in new[0]]
        z = -NormalDist().inv_cdf(max(p, 1e-300) / 2.0)  # the |z| of that two-sided p (tails: exact)
        p = 2.0 * NormalDist().cdf(-z / math.sqrt(design_effect(centred)))
    drifting = base[2] in DRIFTING_REFERENCES
    alpha = level or (DEFAULT_ALPHA if drifting else STABLE_HOST_ALPHA)
    times = float(np.median(new[1]) / np.median(base[1]))
    if ratio > 1 + THRESHOLD and p < alpha and (not drifting or times > 1):
        return "slower"
    if ratio < 1 / (1 + THRESHOLD) and p < alpha and (not drifting or times < 1):
        return "faster"
    return "none"


def pairs() -> tuple[list[tuple[str, Side, Side, str]], list[tuple[str, Side, Side]]]:
    """(size, base, new, expected) of the real changes; (size, a, b) of the null pairs."""
    real: list[tuple[str, Side, Side, str]] = []
    for _, kind, base, new, truth in regression_pairs():
        sb, sn = sides(base), sides(new)
        for label in sorted(sb.keys() & sn.keys()):
            true = big_change(truth, kind, label)
            if true is not None:
                real.append((size_class(label), sb[label], sn[label], "slower" if true > 1 else "faster"))
    null: list[tuple[str, Side, Side]] = []
    for files in null_series().values():
        for a, b in consecutive(files):
            sa, sb = sides(a), sides(b)
            null += [(size_class(k), sa[k], sb[k]) for k in sorted(sa.keys() & sb.keys())]
    return real, null


def main() -> int:
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"# .venv/bin/python tests/benchmarks/clustered_p.py > results/verdicts/clustered.txt")
    print(f"# commit {commit}; median:{THRESHOLD:.0%}, host ratios only (usable on both sides);"
          " pure re-analysis of committed runs")
    real, null = pairs()
    print("p-value         level        " + "  ".join(f"{s:>30}" for s in ("batch 1", "batch 10^6", "training N=40")))
    print(" " * 29 + "  ".join(f"{'called / real  alarms / null':>30}" for _ in range(3)))
    for clustered in (False, True):
        for level in (None, 0.05, 0.01, 0.002):
            hits: dict[str, Counter[Any]] = defaultdict(Counter)
            for size, b, n, want in real:
                hits[size][said(b, n, clustered, level) == want] += 1
            alarms: dict[str, Counter[Any]] = defaultdict(Counter)
            for size, a, b in null:
                alarms[size][said(a, b, clustered, level) != "none"] += 1
            cells = [f"{hits[s][True]:>6} / {sum(hits[s].values()):<4}  {alarms[s][True]:>6} / {sum(alarms[s].values()):<4}"
                     for s in ("batch 1", "batch 10^6", "training N=40")]
            name = "design effect" if clustered else "naive (compare)"
            lvl = "compare's" if level is None else f"{level:g}"
            print(f"{name:<15} {lvl:<12} " + "  ".join(f"{c:>30}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
