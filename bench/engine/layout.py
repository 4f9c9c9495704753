"""A fresh memory layout for every draw: the buffers of a draw land after a live allocation of
random size, so a run averages over many layouts instead of keeping the three its processes drew.

Where a buffer lands (its cache sets, its pages) changes a memory-bound call's time by several
percent, and a process keeps its layout from start to end: a fresh binding alone lands in the
block the previous one just freed. Re-drawn for every draw in the worker and in the companion's
reference, the host ratio of eager inference at 10^6 rows moved 1.3% sd between separate runs
instead of 3.4% (16 + 16 runs alternating, results/layout-draws); the same argument as
STABILIZER (Curtsinger and Berger 2013): a layout is one more random draw, not a constant.
"""
from __future__ import annotations

import random
from typing import Any

SPACER_MAX_FLOATS = 1 << 20  # up to 4 MiB of float32: past the L2, across many pages
_RANDOM = random.SystemRandom()  # a layout draw, like ASLR's: not tied to the run's seed


def layout_spacer() -> Any:
    """An untouched tensor of random size (0 to 4 MiB) to keep alive while the draw's buffers are
    made and used: what is allocated next lands at another offset of the heap."""
    import torch

    return torch.empty(_RANDOM.randrange(SPACER_MAX_FLOATS), dtype=torch.float32)
