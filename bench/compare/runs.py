"""Runs as the unit: two commits compared on one figure per separate run, by Welch's t-test.

Two separate `bench` runs differ by more than their draws say: on a host whose slow phases last
tens of seconds, a run's draws share its phase, so an interval that treats them as independent
is too narrow (results/history-self: one pair read a 1.45x step as 0.814x [0.700, 1.045]). pyperf
compares runs the same way: each run's value is one observation, and the test is Student's t.
Here each run gives one figure (bench/history/own_bench.py: its host ratio, or its median of draw
medians), compared in logs (a ratio is what is asked, and run-to-run noise is multiplicative),
with Welch's unequal variances.

The t distribution is bench/engine/tdist.py's (the estimate's intervals use it too).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.compare.significance import RatioStats
from bench.engine.tdist import t_quantile, t_two_sided_p

def _mean_var(logs: Sequence[float]) -> tuple[float, float]:
    mean = math.fsum(logs) / len(logs)
    return mean, math.fsum((v - mean) ** 2 for v in logs) / (len(logs) - 1)


@dataclass(frozen=True)
class Contrast:
    """sum(w_i * mean(log x_i)) over groups of runs, its interval and two-sided p (Welch)."""

    value: float
    low: float
    high: float
    p_value: float
    df: float


def welch_contrast(groups: Sequence[Sequence[float]], weights: Sequence[float],
                   confidence: float) -> Contrast:
    """A linear contrast of the groups' mean logs, with Welch-Satterthwaite degrees of freedom
    (each group its own variance). Needs two positive figures in every weighted group."""
    used = [(w, g) for w, g in zip(weights, groups, strict=True) if w != 0.0]
    if any(len(g) < 2 or min(g) <= 0.0 for _, g in used):
        raise ValueError("welch_contrast needs at least two positive figures in each group")
    parts = [(w, *_mean_var([math.log(v) for v in g]), len(g)) for w, g in used]
    value = math.fsum(w * mean for w, mean, _, _ in parts)
    terms = [w * w * var / n for w, _, var, n in parts]
    se2 = math.fsum(terms)
    if se2 == 0.0:  # every run of each group the same figure: the contrast is exact
        return Contrast(value, value, value, 1.0 if value == 0.0 else 0.0, math.inf)
    df = se2 ** 2 / math.fsum(t * t / (n - 1) for t, (_, _, _, n) in zip(terms, parts))
    half = t_quantile(confidence, df) * math.sqrt(se2)
    return Contrast(value, value - half, value + half, t_two_sided_p(value / math.sqrt(se2), df), df)


def welch_log_ratio(base: Sequence[float], new: Sequence[float], confidence: float) -> RatioStats:
    """new/base as the ratio of the runs' geometric means, its `confidence` interval and the
    two-sided p of Welch's t-test on the logs. Needs two positive figures a side."""
    if len(base) < 2 or len(new) < 2 or min(*base, *new) <= 0.0:
        raise ValueError("welch_log_ratio needs at least two positive figures a side")
    c = welch_contrast((base, new), (-1.0, 1.0), confidence)
    return RatioStats(math.exp(c.value), math.exp(c.low), math.exp(c.high), c.p_value,
                      len(base), len(new), 0.0)


def needed_to_resolve(n: int, half: float, gap: float) -> int:
    """How many values (rounds, pairs, draws) a half-width `half` measured after n needs to shrink
    under `gap`, as 1/sqrt(n) (t's fall with the degrees of freedom aside)."""
    return math.ceil(n * (half / gap) ** 2)


def to_resolve(stats: RatioStats, threshold: float, n: int) -> int | None:
    """How many values a side (draws, pairs) would resolve `stats` at the threshold: the
    interval's half-width against the ratio's distance to the threshold on either side, both in
    logs (needed_to_resolve); None where the ratio sits on the threshold (within 0.1%) and no
    count resolves it. `compare`'s unresolved hint and `history find`'s undecided step use it."""
    half = (math.log(stats.ci_high) - math.log(stats.ci_low)) / 2.0
    room = abs(abs(math.log(stats.ratio)) - math.log1p(threshold))
    return None if room < 1e-3 else needed_to_resolve(n, half, room)
