"""The statistics behind `compare`: exact and approximate Mann-Whitney U, bootstrap interval of the ratio."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.compare.gate import GateSpecError, MedianGate
from bench.compare.significance import (
    bootstrap_ratio_ci,
    compare_samples,
    mann_whitney_u,
    min_p_value,
    ratio_of_medians,
)


def brute_force_p(x: list[float], y: list[float]) -> float:
    """Two-sided exact p by enumerating every split of the pooled values."""
    pooled = x + y
    m = len(x)

    def u_of(xs: list[float], ys: list[float]) -> float:
        return sum(1.0 for a in xs for b in ys if a > b)

    u_obs = u_of(x, y)
    mn = len(x) * len(y)
    extreme = min(u_obs, mn - u_obs)
    count = total = 0
    for idx in itertools.combinations(range(len(pooled)), m):
        xs = [pooled[i] for i in idx]
        ys = [pooled[i] for i in range(len(pooled)) if i not in idx]
        u = u_of(xs, ys)
        total += 1
        count += min(u, mn - u) <= extreme
    return min(1.0, count / total)


@pytest.mark.parametrize("seed", range(4))
def test_exact_u_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    x = list(rng.normal(0, 1, 4))
    y = list(rng.normal(0.8, 1, 5))
    assert mann_whitney_u(x, y) == pytest.approx(brute_force_p(x, y), rel=1e-12)


def test_normal_approximation_close_to_exact_at_moderate_n():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 40), rng.normal(0.5, 1, 40)
    exact = mann_whitney_u(x, y)
    approx = mann_whitney_u(np.r_[x, x[:1]], y)  # a tie forces the normal approximation
    assert math.isclose(exact, approx, rel_tol=0.25)


def test_separated_samples_reach_the_smallest_p():
    x, y = list(range(10)), list(range(100, 110))
    assert mann_whitney_u(x, y) == pytest.approx(min_p_value(10, 10))
    assert min_p_value(10, 10) == pytest.approx(2 / math.comb(20, 10))


def test_all_equal_samples_give_p_one():
    assert mann_whitney_u([1.0] * 8, [1.0] * 8) == 1.0


def test_bootstrap_is_seeded_and_brackets_the_ratio():
    rng = np.random.default_rng(0)
    base, new = rng.normal(1.0, 0.01, 30), rng.normal(1.5, 0.01, 30)
    lo, hi = bootstrap_ratio_ci(base, new)
    assert (lo, hi) == bootstrap_ratio_ci(base, new)
    assert lo <= ratio_of_medians(base, new) <= hi
    assert 1.4 < lo < hi < 1.6


def test_compare_samples_fields():
    s = compare_samples([1.0, 1.1, 0.9], [2.0, 2.2, 1.8])
    assert s.ratio == pytest.approx(2.0)
    assert (s.n_base, s.n_new) == (3, 3)
    assert s.min_p_value == pytest.approx(0.1)


@pytest.mark.parametrize("spec, threshold", [("median:10%", 0.10), ("MEDIAN: 2.5 %", 0.025)])
def test_gate_parses(spec, threshold):
    assert MedianGate.parse(spec).threshold == pytest.approx(threshold)


@pytest.mark.parametrize("spec", ["mean:10%", "median:10", "median:x%", "", "10%"])
def test_gate_rejects_bad_specs(spec):
    with pytest.raises(GateSpecError):
        MedianGate.parse(spec)


def test_gate_needs_threshold_and_significance():
    rng = np.random.default_rng(3)
    base = rng.normal(1.0, 0.005, 20)
    gate = MedianGate(threshold=0.10)
    assert gate.fails(base * 2.0, base) is not None                # 2x: beyond and significant
    assert gate.fails(base * 1.02, base) is None                   # significant, but within 10%
    # Beyond, but n=3 can never be significant: the gate fails it anyway, asking for more samples.
    assert "more samples needed" in gate.fails(base[:3] * 2.0, base[:3])
    assert gate.fails(base[:3] * 1.02, base[:3]) is None           # within the threshold
    assert gate.fails(base[:3] * 0.5, base[:3]) is None            # faster beyond it: no failure
    noisy = np.r_[base[:10], base[10:] * 3.0]                      # median moves, samples overlap
    assert gate.verdict(compare_samples(base, noisy)) in ("unresolved", "slower")  # never "unchanged": the interval reaches 3x


def test_large_samples_do_not_overflow():
    rng = np.random.default_rng(5)
    base = rng.normal(1.0, 0.01, 20_000)
    assert min_p_value(20_000, 20_000) == 0.0
    s = compare_samples(base, base * 1.5, resamples=200)
    assert s.p_value < 1e-10 and 1.49 < s.ratio < 1.51
