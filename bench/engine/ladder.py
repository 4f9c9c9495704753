"""The reference ladder: every reference kind timed in turn, in one companion, in one run.

Within one run the report compares runtimes. Their times come from different moments, and on a
shared 2-vCPU VM the host's slow phases move a measurement's draws by up to 2x (draw medians of
one `make run`, eager at batch 1: 7.8 to 15 us), so two runtimes' fast-state intervals overlap and
the answer could only say "tie" where the runtimes differ by 1.6x. Their host ratios (each
runtime's block over its reference's block, timed in lockstep) moved 1% between two runs. Two
runtimes with the same reference compare exactly on those ratios; two with different references
(onnxruntime's `ort` against torch's `dispatch`) need how long one reference takes against the
other in the same host state. The ladder measures that: the companion builds each kind once,
then times rounds of one block of each kind back to back (the order rotated each round), so each
round's kind/dispatch ratio is taken within ~25 ms. Its median over rounds puts every reference
on one scale. (Rebuilt for every block, a round took a second and its ort/dispatch ratio ranged
0.066 to 0.19; back to back, two ladders' medians agreed within 3%.)

That scale is this run's, measured beside its measurements: never a stored one. A figure made
with it is a host-normalised time, used only to rank runtimes, and named as such.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import Any

from bench.engine.estimate import quantile_interval
from bench.engine.timing import TimingConfig

LADDER_KEY = "reference_ladder"  # its top-level key in results.json
KINDS = ("dispatch", "autograd", "ort", "stream", "ort-stream", "ort-line")
ANCHOR = "dispatch"       # the ladder's unit: each kind's time over dispatch's, round by round
ROUNDS, ROUNDS_QUICK = 40, 12  # 5 ms blocks: a round of the six kinds is ~30 ms


def ladder_rounds(quick: bool) -> int:
    return ROUNDS_QUICK if quick else ROUNDS


def measure_ladder(threads: int, timing: TimingConfig, rounds: int = ROUNDS) -> dict[str, Any]:
    """{"threads", "anchor", "rounds", "times_s": {kind: [each round's block, s per call]}},
    timed by this worker's companion (bench/engine/companion.py), the references the lockstep
    uses, each built once and then timed a block each in turn."""
    from bench.engine.companion import shared_companion

    times = shared_companion().ladder(KINDS, threads, asdict(timing), rounds)
    return {"threads": threads, "anchor": ANCHOR, "rounds": rounds, "times_s": times}


def ladder_scales(ladder: Any) -> dict[str, tuple[float, float, float]]:
    """{kind: (median, low, high) over rounds of its time over the anchor's in the same round},
    low-high the median's 95% distribution-free interval (two order statistics); {} for a
    missing or malformed ladder (an older file, a stranger's: the answer then compares times)."""
    if not isinstance(ladder, dict) or not isinstance(ladder.get("times_s"), dict):
        return {}
    name = ladder.get("anchor", ANCHOR)
    anchor = ladder["times_s"].get(name) if isinstance(name, str) else None
    if not _times(anchor):
        return {}
    scales = {}
    for kind, times in ladder["times_s"].items():
        if _times(times) and len(times) == len(anchor):
            rounds = [t / a for t, a in zip(times, anchor)]
            low, high = quantile_interval(rounds, 0.5)
            scales[str(kind)] = (statistics.median(rounds), low, high)
    return scales


def _times(values: Any) -> bool:
    return (isinstance(values, list) and len(values) > 0
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values))
