"""Parity of data-parallel training: every world size's final parameters against one process.

Equal shards and DDP's gradient averaging give the same update as single-process full-batch
training, up to the order of the float32 reductions: each rank sums its shard, the all-reduce
adds the (already divided) shard gradients. So the comparison allows a small absolute error
(DDP_PARITY_ATOL, stated in every record) rather than bit-exactness. Every rank must end with
bit-identical parameters: DDP broadcasts rank 0's initial values and applies one averaged
gradient everywhere, so any difference between ranks is a bug, not rounding.
"""
from __future__ import annotations

import torch

from bench.engine.measurement import Parity
from bench.engine.parity import check_parity
from bench.training.loops import EagerLoop, make_train_data

# float32 parameters near 0.3-0.7 have a ULP of ~6e-8. The shard-wise sums reorder an N-term
# reduction; measured here at world size 2 after 105 epochs: 1 ULP at N = 10^4, 2 ULP (1.2e-7)
# at 10^6. 1e-5 leaves room for more ranks and epochs while catching any wrong update.
DDP_PARITY_ATOL = 1e-5


def reference_parameters(n: int, epochs: int, threads: int) -> list[float]:
    """(weights, bias) after `epochs` full-batch epochs of the single-process eager loop on the CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # the ranks' thread count: at large N it changes the last bits
    try:
        X, y = make_train_data(n, "cpu")
        loop = EagerLoop(X, y, "cpu")
        for _ in range(epochs):
            loop.step()
        w, b = loop.parameters()
        return [float(w.item()), float(b.item())]
    finally:
        torch.set_num_threads(previous)


def ddp_parity(reference: list[float], rank_parameters: list[list[float]], epochs: int) -> Parity:
    """Rank 0 against the reference within DDP_PARITY_ATOL, and every rank bit-identical to rank 0."""
    verdict = check_parity(reference, rank_parameters[0], DDP_PARITY_ATOL,
                           reference_name=f"single-process eager loop's parameters after {epochs} epochs")
    identical = all(p == rank_parameters[0] for p in rank_parameters[1:])
    return Parity(verdict.max_abs_error, verdict.max_ulp, verdict.passed and identical,
                  f"{verdict.tolerance}; all {len(rank_parameters)} ranks bit-identical",
                  verdict.reference)


def rank_spread(rank_parameters: list[list[float]]) -> float:
    """Largest difference of any rank's parameters from rank 0's (0.0 when identical)."""
    first = rank_parameters[0]
    return max((abs(a - b) for p in rank_parameters[1:] for a, b in zip(p, first)), default=0.0)

