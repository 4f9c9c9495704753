"""One CPU for a single-threaded worker and its companion while they measure: the reference must
see the vCPU the workload runs on.

The companion's reference block runs while the worker is stopped (bench/engine/companion.py), so
the two never need two CPUs at once. Left to the scheduler, they land on different vCPUs, and on
a VM two vCPUs are two host threads with different neighbours: the reference then tracks the
wrong CPU's slow phases. Measured here on an idle 2-vCPU VM (train_epoch at N=40 and eager at
batch 1, 18 draws each): the max/min of the draws' workload/reference ratios was 1.14-1.36
pinned against 1.84-2.72 unpinned, while the draws' own times moved alike (1.7-1.9x) both ways.

The pin is applied at the first measurement, not at the worker's start: the worker and the
companion import torch at the same time on two CPUs (pinned from the start, one run of the
issue-9 configuration took 67 s instead of 50 s). Only workers with one intra-op thread are
pinned (a pool of T threads needs T CPUs); each process record names its CPUs.
"""
from __future__ import annotations

import os

_wanted: dict[str, int] = {}


def pin_at_first_measurement(threads: int) -> None:
    """This worker process pins itself and its companion once they start measuring (one thread)."""
    _wanted["threads"] = threads


def pin_with(pid: int) -> list[int] | None:
    """If this process asked for it and runs one thread: this process and `pid` on the allowed
    CPU with the highest number (CPU 0 takes most interrupts). The pinned set, or None."""
    if _wanted.get("threads") != 1 or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return allowed
    try:
        os.sched_setaffinity(pid, {allowed[-1]})
        os.sched_setaffinity(0, {allowed[-1]})
    except OSError:  # not permitted here (a restricted container): unpinned, as before
        return None
    _wanted.clear()  # once: every later measurement of this worker stays on it
    return [allowed[-1]]
