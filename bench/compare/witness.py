"""The times' witness to a verdict on host-normalised ratios, and the gate's level per figure.

A host ratio cancels the host's speed only as well as its reference keeps its own. The small-call
references (dispatch, autograd, ort) hold no state of the run; the memory-bound ones drift
between runs on their own, so there the draws' times must agree on the direction.
"""
from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from bench.compare.files import HOST_RATIOS, Entry
from bench.compare.gate import MedianGate, Verdict
from bench.compare.significance import RatioStats, mann_whitney_u, ratio_of_medians
from bench.engine.estimate import draw_reference_times


# References whose ratio drifts between runs on its own: the memory-bound ones (from 10^5 rows),
# where a run's cache and page state moves workload and reference differently. Null pairs gated
# on the host ratios alone, every stored series (results/spread/, results/regressions*/): 21 of
# 162 at 10^6 rows, 1 of 162 at batch 1, 6 of 126 at training N=40 (all 6 with the worker
# pinned, 8f5fb7f; 0 of 91 since). With the times' direction too, 13 of 162 at 10^6.
DRIFTING_REFERENCES = ("stream", "ort-stream", "ort-line")


def gate_for(gate: Any, figure: str, base: Entry) -> Any:
    """The gate at the level for this figure: its host level on the host ratios against a stable
    reference (MedianGate.host_alpha; gate.py says why), its own level on everything else."""
    stable = figure == HOST_RATIOS and base.host_reference not in DRIFTING_REFERENCES
    return gate.at_host_level() if stable and isinstance(gate, MedianGate) else gate


def confirmed(verdict: Verdict, stats: RatioStats, figure: str, b: Entry, n: Entry,
              gate: MedianGate) -> tuple[Verdict, str]:
    """(verdict, note) on the host-normalised ratios. A process-wide or code regression moves
    the ratios and the times; a host slow phase moves only the times (by up to 1.5x between
    runs); a reference that drifted between the runs only the ratios, and that happens with the
    memory-bound references (DRIFTING_REFERENCES). So the ratios decide, beyond the threshold
    with their own U test significant, and with a memory-bound reference the draws' times must
    also have moved the same way (their direction, not their size: a host phase in one run
    would veto real slowdowns). Requiring that of every reference vetoed real slowdowns of
    12-23% in 12 of 50 pairs at batch 1 and N=40 (results/regressions-layout) where the host
    was faster in NEW; "either test" significant called 2 of 9 quiet null pairs at 10^6."""
    if figure != HOST_RATIOS:
        return verdict, ""
    base_s, new_s = np.asarray(b.draws_s, dtype=float), np.asarray(n.draws_s, dtype=float)
    times_ratio = ratio_of_medians(base_s, new_s)  # a witness: no interval needed, no bootstrap
    limit = 1.0 + gate.threshold
    witness = f"the draws' times {times_ratio:.3f}x, p={mann_whitney_u(base_s, new_s):.2g}"
    if b.host_reference not in DRIFTING_REFERENCES:
        return verdict, (f"host ratios; {witness}" if verdict in (Verdict.SLOWER, Verdict.FASTER) else "")
    both_slower = stats.ratio > limit and times_ratio > 1.0
    both_faster = stats.ratio < 1.0 / limit and times_ratio < 1.0
    if not (both_slower or both_faster):
        if verdict in (Verdict.SLOWER, Verdict.FASTER, Verdict.INCONCLUSIVE):
            return Verdict.UNRESOLVED, (f"host ratios {stats.ratio:.3f}x but {witness}: not confirmed"
                                        + reference_moved(b, n))
        return verdict, ""
    if stats.p_value < gate.alpha:
        return (Verdict.SLOWER if both_slower else Verdict.FASTER), f"confirmed by {witness}"
    if stats.min_p_value >= gate.alpha:
        return Verdict.INCONCLUSIVE, ""
    return Verdict.UNRESOLVED, f"beyond the threshold, the host ratios not significant ({witness})"


def reference_moved(b: Entry, n: Entry) -> str:
    """A note's tail: how far the reference's own time (each draw's median over its host ratio)
    moved, NEW over BASE; "" where a side lacks it. Where ratios and times disagree, this is why:
    the host's speed, or the reference's own drift (0.82-1.20x in the 5 real changes at 10^6 rows
    of results/regressions-layout and -truth3 that read "not confirmed")."""
    base, new = (draw_reference_times(e.draws_s, e.host_ratios) for e in (b, n))
    if not base or not new:
        return ""
    moved = statistics.median(new) / statistics.median(base)
    return (f"; the reference's own time {moved:.3f}x (the host's speed, or the reference's drift:"
            " one pair cannot tell which)")
