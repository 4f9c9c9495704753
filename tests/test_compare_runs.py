"""Runs as the unit (bench/compare/runs.py): the t distribution (bench/engine/tdist.py) against
its closed forms and printed tables, and Welch's interval against its promise, coverage of a
known ratio.

The closed forms are independent of the continued fraction the module computes: df = 1 is the
Cauchy distribution, df = 2 has P(|T| >= t) = 1 - t / sqrt(2 + t^2)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

from bench.compare.runs import welch_contrast, welch_log_ratio
from bench.engine.tdist import incomplete_beta, t_quantile, t_two_sided_p


@given(st.floats(0.0, 1e4))
@example(1e-7)  # found by Hypothesis: 1 - x rounded away, the tail off by 8e-10
def test_the_tail_matches_the_closed_forms(t: float) -> None:
    assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-10)
    assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-10)


@pytest.mark.parametrize("df, t975, t995", [  # two-sided 95% and 99% points, any printed table
    (1, 12.706, 63.657), (2, 4.303, 9.925), (3, 3.182, 5.841), (6, 2.447, 3.707),
    (10, 2.228, 3.169), (30, 2.042, 2.750), (1000, 1.962, 2.581)])
def test_quantiles_match_the_table(df: int, t975: float, t995: float) -> None:
    assert t_quantile(0.95, df) == pytest.approx(t975, abs=1e-3)
    assert t_quantile(0.99, df) == pytest.approx(t995, abs=1e-3)
    assert t_two_sided_p(t975, df) == pytest.approx(0.05, abs=1e-4)


@given(st.floats(0.01, 50), st.floats(0.01, 50), st.floats(1e-6, 1.0 - 1e-6))  # 1 - x exact enough
def test_the_incomplete_beta_is_a_distribution(a: float, b: float, x: float) -> None:
    v = incomplete_beta(a, b, x)
    assert 0.0 <= v <= 1.0 + 1e-12
    assert v + incomplete_beta(b, a, 1.0 - x) == pytest.approx(1.0, abs=1e-9)  # the symmetry


def test_the_interval_covers_a_known_ratio_at_its_level() -> None:
    """3 runs a side, 10% multiplicative run-to-run noise, a true 1.3x: the 95% interval holds
    the true ratio in about 95% of 4000 seeded trials, and p < 0.05 finds the step in more than half."""
    rng = np.random.default_rng(7)
    covered = found = 0
    trials = 4000
    for _ in range(trials):
        base = np.exp(rng.normal(0.0, 0.10, 3)) * 100e-6
        new = np.exp(rng.normal(math.log(1.3), 0.10, 3)) * 100e-6
        s = welch_log_ratio(base.tolist(), new.tolist(), 0.95)
        covered += s.ci_low <= 1.3 <= s.ci_high
        found += s.p_value < 0.05
        assert s.ci_low <= s.ratio <= s.ci_high
    assert 0.93 <= covered / trials <= 0.975
    assert found / trials > 0.5  # 0.575 with these seeds: 3 runs a side is little


def test_identical_runs_are_an_exact_ratio() -> None:
    same = welch_log_ratio([2e-6, 2e-6], [2e-6, 2e-6], 0.95)
    assert (same.ratio, same.ci_low, same.ci_high, same.p_value) == (1.0, 1.0, 1.0, 1.0)
    shifted = welch_log_ratio([2e-6, 2e-6], [3e-6, 3e-6], 0.95)
    assert shifted.ratio == pytest.approx(1.5) and shifted.p_value == 0.0


@pytest.mark.parametrize("base, new", [([1.0], [1.0, 2.0]), ([1.0, 0.0], [1.0, 1.0])])
def test_too_few_or_non_positive_figures_are_refused(base: list[float], new: list[float]) -> None:
    with pytest.raises(ValueError):
        welch_log_ratio(base, new, 0.95)


def test_a_contrast_of_two_groups_is_welchs_test() -> None:
    """(-1, 1) over two groups is welch_log_ratio's test, by hand: logs of 3 runs a side."""
    base, new = [100.0, 110.0, 95.0], [130.0, 121.0, 140.0, 128.0]
    c = welch_contrast((base, new), (-1.0, 1.0), 0.95)
    lb, ln = np.log(base), np.log(new)
    vb, vn = lb.var(ddof=1) / 3, ln.var(ddof=1) / 4
    df = (vb + vn) ** 2 / (vb ** 2 / 2 + vn ** 2 / 3)
    assert c.value == pytest.approx(ln.mean() - lb.mean())
    assert c.df == pytest.approx(df)
    assert c.p_value == pytest.approx(t_two_sided_p(c.value / math.sqrt(vb + vn), df))
    r = welch_log_ratio(base, new, 0.95)
    assert (math.exp(c.low), math.exp(c.high), c.p_value) == pytest.approx((r.ci_low, r.ci_high, r.p_value))


def test_the_midpoint_contrast_covers_its_true_value_at_its_level() -> None:
    """M against the midpoint of two ends, 3 runs each, 10% run-to-run noise, ends 1.3x apart and
    M on the bad side: the 95% interval of log M - (log A + log B) / 2 holds the true value
    (log 1.3 / 2) in about 95% of 4000 seeded trials."""
    rng = np.random.default_rng(11)
    step, covered, trials = math.log(1.3), 0, 4000
    for _ in range(trials):
        groups = [np.exp(rng.normal(mu, 0.10, 3)).tolist() for mu in (0.0, step, step)]
        c = welch_contrast(groups, (-0.5, 1.0, -0.5), 0.95)
        covered += c.low <= step / 2 <= c.high
    assert 0.93 <= covered / trials <= 0.975


def test_a_contrast_refuses_too_few_figures_in_a_weighted_group_only() -> None:
    with pytest.raises(ValueError):
        welch_contrast(([1.0, 2.0], [1.0]), (-1.0, 1.0), 0.95)
    assert welch_contrast(([1.0, 2.0], [1.0], [2.0, 3.0]), (-1.0, 0.0, 1.0), 0.95).df > 0
