"""The host's state during a measurement, as its companion reference saw it (fixed code in a clean
process, so what moves its time is the host, not the workload). From what results.json keeps:
each draw's median and its host ratio, whose quotient is the draw's reference time (the ratio is
the median of the block pairs' ratios, so this is the reference's time to within its spread)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.engine.estimate import draw_reference_times as reference_times  # noqa: E402,F401  (this checkout's bench)
from bench.engine.estimate import host_moved as estimate_host_moved  # noqa: E402


def host_moved(draws: Sequence[float], ratios: Sequence[float]) -> float | None:
    """The reference's third over first quartile across the draws, as a run stores it
    (bench/engine/estimate.py host_moved; None under 4 draws)."""
    refs = reference_times(draws, ratios)
    return None if refs is None else estimate_host_moved(refs)


def host_fast_draws(draws: Sequence[float], ratios: Sequence[float], within: float,
                    at_least: int = 1) -> list[float]:
    """The draws whose reference time is within `within` (0.10: 10%) of the fastest one's; every
    draw when there are no reference times or fewer than `at_least` such draws."""
    refs = reference_times(draws, ratios)
    chosen = [d for d, r in zip(draws, refs) if r <= (1 + within) * min(refs)] if refs else []
    return chosen if len(chosen) >= at_least else list(draws)
