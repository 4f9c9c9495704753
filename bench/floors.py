"""Floors measured in the same run: what no runtime can beat on this machine, right now.

- empty_call_s: a Python call that does nothing (the cost of being timed through a callable);
- timer_overhead_s: one time.perf_counter() reading;
- bandwidth_bytes_per_s: a large torch copy_ (bytes read + bytes written per second) with the
  run's thread count, the anchor every large-batch result is judged against.

The traffic model (minimum bytes a workload must move, float32 throughout):
- inference at batch B reads x and writes y: 8 bytes per element, 8 * B bytes;
- a training epoch at N samples must read x and y at least once: 8 bytes per sample, 8 * N bytes
  (the eager loop moves far more: predictions, residuals and gradients are written and re-read).
bandwidth_efficiency = (bytes_moved / median_s) / bandwidth_bytes_per_s: 1.0 is the copy's speed.
"""
from __future__ import annotations

import time
from typing import Any

from bench.measurement import Measurement, Spec
from bench.timing import TimingConfig, clock_resolution_s, measure

BYTES_PER_ELEMENT_INFERENCE = 8   # float32 x read + float32 y written
BYTES_PER_SAMPLE_TRAINING = 8     # float32 x and y read once
LARGE_BATCH = 100_000             # results from this size on get bytes_per_s and efficiency
COPY_BYTES = 400_000_000          # well past any L3 (32 MiB here): measures DRAM, not cache


def _noop() -> None:
    return None


def measure_floors(threads: int, config: TimingConfig = TimingConfig(),
                   copy_bytes: int = COPY_BYTES) -> dict[str, Any]:
    """{empty_call_s, timer_overhead_s, timer_resolution_s, bandwidth_bytes_per_s, ...}."""
    import torch

    torch.set_num_threads(threads)
    spec = Spec("inference", "floor", "cpu", 1)
    empty = measure(_noop, spec, config)
    timer = measure(time.perf_counter, spec, config)

    n = copy_bytes // 4 // 2  # two buffers of float32 share the budget: src + dst
    src = torch.ones(n, dtype=torch.float32)
    dst = torch.empty_like(src)
    copy = measure(lambda: dst.copy_(src), Spec("inference", "copy", "cpu", n), config)
    moved = 2 * n * 4  # read src + write dst
    return {
        "empty_call_s": empty.median_s,
        "timer_overhead_s": timer.median_s,
        "timer_resolution_s": clock_resolution_s(),
        "bandwidth_bytes_per_s": moved / copy.median_s,
        "bandwidth_copy_bytes": moved,
        "bandwidth_threads": threads,
        "bandwidth_warnings": list(copy.warnings),
    }


def bytes_moved(spec: Spec) -> int:
    """The minimum traffic of one call of `spec` under the model in this module's docstring."""
    per = BYTES_PER_ELEMENT_INFERENCE if spec.phase == "inference" else BYTES_PER_SAMPLE_TRAINING
    return per * spec.batch_size


def with_efficiency(m: Measurement, bandwidth_bytes_per_s: float | None) -> Measurement:
    """Attach bytes_moved, bytes_per_s and bandwidth_efficiency to a large-batch result."""
    if m.skipped or not m.times_s or m.spec.batch_size < LARGE_BATCH:
        return m
    moved = bytes_moved(m.spec)
    extra = dict(m.extra)
    extra["bytes_moved"] = moved
    extra["bytes_per_s"] = moved / m.median_s
    if bandwidth_bytes_per_s:
        extra["bandwidth_efficiency"] = extra["bytes_per_s"] / bandwidth_bytes_per_s
    return Measurement(m.spec, m.times_s, m.calls_per_sample, m.parity, m.warnings,
                       m.skip_reason, extra)
