"""How long DDP's gradient all-reduce takes: a comm hook around torch's own allreduce_hook.

No `from __future__ import annotations` here: DDP checks the hook's annotations against the real
`dist.GradBucket` and `torch.futures.Future[torch.Tensor]` objects, and strings would not match.

The hook runs torch's default `allreduce_hook` unchanged (divide by the world size, all-reduce),
so the update is the one DDP makes without a hook; it only notes when the bucket's all-reduce is
launched and when its future completes. On CPU (gloo) the future completes on gloo's thread when
the data is reduced, so host clocks time it. On CUDA (nccl) the future completes when the work
is enqueued, so CUDA events are recorded instead: one at launch on the current stream, one in the
callback, which runs on the streams the all-reduce produced its value on (the events are read
after the epoch's synchronize). The time includes waiting for the slowest rank to arrive.
"""
import time
from typing import Callable

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook


class AllReduceTimer:
    """Collects per-bucket all-reduce durations; `take()` returns this epoch's total in seconds."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self._host_s: list[float] = []
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def hook(self, state: object, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            self._events.append((start, end))
            fut = allreduce_hook(None, bucket)  # None: the default (world) process group

            def done_cuda(f: torch.futures.Future[torch.Tensor]) -> torch.Tensor:
                end.record()
                return f.value()

            return fut.then(done_cuda)
        start_s = time.perf_counter()
        fut = allreduce_hook(None, bucket)

        def done(f: torch.futures.Future[torch.Tensor]) -> torch.Tensor:
            self._host_s.append(time.perf_counter() - start_s)
            return f.value()

        return fut.then(done)

    def take(self) -> float:
        """Seconds spent in all-reduces since the last call (call after the epoch's sync)."""
        total = sum(self._host_s) + sum(a.elapsed_time(b) for a, b in self._events) / 1e3
        self._host_s.clear()
        self._events.clear()
        return total


def time_allreduce(numel: int, device: torch.device, repeats: int,
                   sync: Callable[[], None]) -> list[float]:
    """This rank's seconds for `repeats` all-reduces of `numel` float32 values, each after a barrier."""
    buffer = torch.zeros(numel, dtype=torch.float32, device=device)
    times: list[float] = []
    for _ in range(repeats):
        dist.barrier()
        sync()
        start = time.perf_counter()
        dist.all_reduce(buffer)
        sync()
        times.append(time.perf_counter() - start)
    return times
