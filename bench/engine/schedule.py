"""The order in which worker processes run: round-robin across units, rotated every round.

A unit is one runtime (or training variant) measured in K worker processes. Running A's K
processes back to back lets a slow phase of the host (seconds to tens of seconds, host-wide)
land on A alone, which then looks like a property of A: bias. Interleaving them
(A1 B1 C1, B2 C2 A2, C3 A3 B3, ...) spreads such a phase over every unit, where it shows up
as across-process spread instead. The rotation also gives every unit every position in a
round equally often, so "first after a fresh start" is not always the same unit (pyperf runs
its processes back to back; this is the lesson taken one step further).
"""
from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")


def round_robin(units: Sequence[T], processes: int) -> list[tuple[T, int]]:
    """[(unit, process index)] for `processes` rounds; round r starts at unit r mod len(units).

    Process indices are 0-based. An empty `units` gives an empty order.
    """
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    n = len(units)
    order: list[tuple[T, int]] = []
    for r in range(processes):
        order.extend((units[(r + i) % n], r) for i in range(n))
    return order
