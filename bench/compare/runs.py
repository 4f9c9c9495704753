"""Runs as the unit: two commits compared on one figure per separate run, by Welch's t-test.

Two separate `bench` runs differ by more than their draws say: on a host whose slow phases last
tens of seconds, a run's draws share its phase, so an interval that treats them as independent
is too narrow (results/history-self: one pair read a 1.45x step as 0.814x [0.700, 1.045]). pyperf
compares runs the same way: each run's value is one observation, and the test is Student's t.
Here the figure is each run's median of its draw medians, compared in logs (a ratio is what is
asked, and run-to-run noise is multiplicative), with Welch's unequal variances.

Numpy only, like significance.py: the t distribution's tail is the regularized incomplete beta
function, by its continued fraction (Numerical Recipes, 6.4), good to ~1e-12 here.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.compare.significance import RatioStats

_EPS, _TINY, _MAX_ITER = 1e-14, 1e-300, 400


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def incomplete_beta(a: float, b: float, x: float, y: float | None = None) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.
    `y`: 1 - x where the caller has it exactly (x near 1 loses it to rounding: the t tail at
    t = 1e-7 was off by 8e-10)."""
    y = 1.0 - x if y is None else y
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log(y))
    if x < (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (df > 0, not only integers)."""
    if not math.isfinite(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))


def t_quantile(confidence: float, df: float) -> float:
    """The t with P(|T| <= t) = confidence: the half-width factor of a two-sided interval."""
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > 1.0 - confidence:
        hi *= 2.0
    for _ in range(200):  # bisection: p falls monotonically in t
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_two_sided_p(mid, df) > 1.0 - confidence else (lo, mid)
        if hi - lo < 1e-12 * hi:
            break
    return (lo + hi) / 2.0


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
