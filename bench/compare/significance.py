"""Statistics for comparing two sets of timing samples: ratio of medians, its bootstrap CI, Mann-Whitney U.

Numpy only (no scipy). The verdict rule follows asv: a change counts only when the ratio of medians
is beyond the threshold AND the Mann-Whitney U test says the two sample sets differ (p < alpha).
The bootstrap interval is reported beside it so a reader sees how sure the ratio is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DEFAULT_RESAMPLES = 2000  # bootstrap resamples: CI endpoints stable to ~0.5% at n >= 10
DEFAULT_SEED = 12345      # fixed, so the same two files always give the same interval
DEFAULT_CONFIDENCE = 0.95
LARGE_N = 2000            # above: draw bootstrap medians from their distribution (fast, see below)
EXACT_MAX_N = 50          # exact U distribution below this size (and without ties), normal above


@dataclass(frozen=True)
class RatioStats:
    """NEW/BASE comparison of one measurement's raw samples."""

    ratio: float          # median(new) / median(base); > 1 means NEW is slower
    ci_low: float         # bootstrap percentile interval of the ratio
    ci_high: float
    p_value: float        # two-sided Mann-Whitney U
    n_base: int
    n_new: int
    min_p_value: float    # the smallest p these sample counts can reach (tells when alpha is unreachable)


def ratio_of_medians(base: np.ndarray, new: np.ndarray) -> float:
    mb = float(np.median(base))
    return float(np.median(new)) / mb if mb > 0 else math.inf


def bootstrap_ratio_ci(
    base: np.ndarray,
    new: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new)/median(base), each side resampled on its own."""
    base = np.asarray(base, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    if base.size < 2 or new.size < 2:
        r = ratio_of_medians(base, new) if base.size and new.size else math.nan
        return r, r
    rng = np.random.default_rng(seed)
    mb = _bootstrap_medians(base, resamples, rng)
    mn = _bootstrap_medians(new, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mn / mb
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(ratios, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _bootstrap_medians(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples of x.

    Small samples are resampled directly. Above LARGE_N (pytest-benchmark keeps 10^4-10^5 rounds)
    that costs seconds, so the resample median is drawn from its known distribution instead:
    it is the k-th order statistic x_(j) with P(median <= x_(j)) = P(Binomial(n, j/n) > n/2)
    (Efron 1982), here with the binomial's normal approximation, which is exact enough at n > 2000.
    """
    n = x.size
    if n <= LARGE_N:
        out = np.empty(resamples)
        chunk = max(1, 2_000_000 // n)  # bounded memory
        for start in range(0, resamples, chunk):
            k = min(chunk, resamples - start)
            out[start:start + k] = np.median(x[rng.integers(0, n, (k, n))], axis=1)
        return out
    xs = np.sort(x)
    p = np.arange(1, n + 1) / n
    sd = np.sqrt(n * p * (1.0 - p))
    half = n // 2 + 0.5  # the median index, with continuity correction
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (half - n * p) / np.where(sd > 0, sd, 1.0), -np.inf)
    erfc = np.frompyfunc(math.erfc, 1, 1)
    cdf = 0.5 * erfc(z / math.sqrt(2.0)).astype(np.float64)  # P(resample median <= xs[j])
    cdf = np.maximum.accumulate(cdf)
    idx = np.minimum(np.searchsorted(cdf, rng.random(resamples)), n - 1)
    return xs[idx]


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based) of values, and the sizes of tied groups."""
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    # Boundaries of runs of equal values.
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    counts = np.diff(np.r_[starts, sorted_v.size])
    avg = starts + (counts + 1) / 2.0  # average 1-based rank of each run
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(avg, counts)
    return ranks, counts


@lru_cache(maxsize=64)
def _u_distribution(m: int, n: int) -> np.ndarray:
    """Counts of each U value (0..m*n) over all C(m+n, m) arrangements without ties."""
    # f[j][u]: arrangements of i x's and j y's with statistic u, built up over i (Mann & Whitney 1947).
    prev = [np.zeros(1) + 1.0 for _ in range(n + 1)]  # i = 0: U = 0 in one way
    for i in range(1, m + 1):
        cur = [np.zeros(i * j + 1) for j in range(n + 1)]
        cur[0][0] = 1.0
        for j in range(1, n + 1):
            # The largest element is an x (adds j to U) or a y (adds nothing).
            a = prev[j]             # (i-1, j), shifted by j
            b = cur[j - 1]          # (i, j-1)
            cur[j][j:j + a.size] += a
            cur[j][:b.size] += b
        prev = cur
    return prev[n]


def mann_whitney_u(base: np.ndarray, new: np.ndarray) -> float:
    """Two-sided p-value of the Mann-Whitney U test; exact for small samples without ties."""
    x = np.asarray(base, dtype=np.float64)
    y = np.asarray(new, dtype=np.float64)
    m, n = x.size, y.size
    if m == 0 or n == 0:
        return math.nan
    ranks, tie_counts = _ranks(np.concatenate([x, y]))
    u = float(ranks[:m].sum() - m * (m + 1) / 2.0)
    has_ties = bool((tie_counts > 1).any())
    if not has_ties and max(m, n) <= EXACT_MAX_N:
        dist = _u_distribution(m, n)
        total = dist.sum()
        k = int(round(min(u, m * n - u)))
        p = 2.0 * dist[: k + 1].sum() / total
        return float(min(1.0, p))
    mu = m * n / 2.0
    N = m + n
    tie_term = float((tie_counts**3 - tie_counts).sum()) / (N * (N - 1)) if N > 1 else 0.0
    var = m * n / 12.0 * ((N + 1) - tie_term)
    if var <= 0:
        return 1.0  # every value equal: no evidence of a difference
    z = (abs(u - mu) - 0.5) / math.sqrt(var)  # continuity correction
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0))))


def min_p_value(m: int, n: int) -> float:
    """The smallest two-sided p the U test can give for these sizes: 2 / C(m+n, m)."""
    if m == 0 or n == 0:
        return 1.0
    log_comb = math.lgamma(m + n + 1) - math.lgamma(m + 1) - math.lgamma(n + 1)
    return min(1.0, 2.0 * math.exp(-log_comb))  # underflows to 0.0 at large sizes, never overflows


def min_rounds(alpha: float, limit: int = 10_000) -> int:
    """The fewest samples per side (equal sizes) at which the U test can reach p < alpha."""
    n = 1
    while min_p_value(n, n) >= alpha:
        n += 1
        if n > limit:
            raise ValueError(f"alpha {alpha} is unreachable with up to {limit} samples per side")
    return n


def compare_samples(
    base: np.ndarray | list[float],
    new: np.ndarray | list[float],
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> RatioStats:
    """Ratio of medians NEW/BASE, its bootstrap interval and the U test's p-value."""
    b = np.asarray(base, dtype=np.float64)
    nw = np.asarray(new, dtype=np.float64)
    lo, hi = bootstrap_ratio_ci(b, nw, resamples, confidence, seed)
    return RatioStats(
        ratio=ratio_of_medians(b, nw),
        ci_low=lo,
        ci_high=hi,
        p_value=mann_whitney_u(b, nw),
        n_base=int(b.size),
        n_new=int(nw.size),
        min_p_value=min_p_value(int(b.size), int(nw.size)),
    )
