"""Floors measured in the same run: what no runtime can beat on this machine, right now.

- empty_call_s: a Python call that does nothing (the cost of being timed through a callable);
- timer_overhead_s: one time.perf_counter() reading;
- bandwidth_bytes_per_s: a large torch copy_ in host memory (bytes read + bytes written per
  second) with the run's thread count, the anchor every large-batch CPU result is judged against;
- device_bandwidth_bytes_per_s: {device: bytes/s} per measured device: "cpu" is the host copy
  above, a CUDA device gets a device-to-device copy_ of a large tensor (synchronized). Every
  result is judged against the floor of ITS OWN device; a device without a floor gets no
  efficiency.

The traffic model (minimum bytes a workload must move, float32 throughout):
- inference at batch B reads x and writes y: 8 bytes per element, 8 * B bytes;
- a training epoch at N samples must read x and y at least once: 8 bytes per sample, 8 * N bytes
  (the eager loop moves far more: predictions, residuals and gradients are written and re-read).
bandwidth_efficiency = (bytes_moved / median_s) / device floor. The host's floor is the roofline
(bench/engine/roofline.py: the best of read-only reduction, copy and triad in numpy and torch),
since a copy alone was beaten by 1.5x (it pays read-for-ownership traffic); 1.0 is the roofline.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Mapping, Sequence

from bench.engine.devices import device_skip_reason, device_sync, is_cuda
from bench.engine.measurement import Measurement, Spec
from bench.engine.roofline import measure_roofline, roofline_by_size
from bench.engine.timing import TimingConfig, clock_resolution_s, measure

BYTES_PER_ELEMENT_INFERENCE = 8   # float32 x read + float32 y written
BYTES_PER_SAMPLE_TRAINING = 8     # float32 x and y read once
LARGE_BATCH = 100_000             # results from this size on get bytes_per_s and efficiency
COPY_BYTES = 400_000_000          # well past any L3 (32 MiB here): measures DRAM, not cache


def _noop() -> None:
    return None


def device_copy_bandwidth(device: str, config: TimingConfig, copy_bytes: int) -> float | None:
    """A device-to-device copy_'s bytes (read + written) per second on `device`, or None.

    CUDA devices only (synchronized once per block); anything else has no floor here.
    """
    import torch

    if not is_cuda(device) or device_skip_reason(device) is not None:
        return None
    n = copy_bytes // 4 // 2
    with torch.cuda.device(device):
        src = torch.ones(n, dtype=torch.float32, device=device)
        dst = torch.empty_like(src)
        copy = measure(lambda: dst.copy_(src), Spec("inference", "copy", device, n), config,
                       sync=device_sync(device))
    del src, dst
    return 2 * n * 4 / copy.median_s


def measure_floors(threads: int, config: TimingConfig = TimingConfig(),
                   copy_bytes: int = COPY_BYTES, devices: tuple[str, ...] | list[str] = (),
                   sizes: tuple[int, ...] | list[int] = ()) -> dict[str, Any]:
    """{empty_call_s, timer_overhead_s, timer_resolution_s, bandwidth_bytes_per_s,
    device_bandwidth_bytes_per_s, ...}; `devices` are the run's devices (a floor each, if any)."""
    import torch

    torch.set_num_threads(threads)
    # floors are stable: 0.1 s, 3 samples and 2 warmup calls each (a ~40 ms copy has a ~1% IQR,
    # and 10 warmup calls of it cost 0.4 s); the whole floors task went from 14 s to ~3 s
    config = replace(config, min_total_s=min(config.min_total_s, 0.1),
                     min_samples=min(config.min_samples, 3), warmup_calls=min(config.warmup_calls, 2))
    spec = Spec("inference", "floor", "cpu", 1)
    empty = measure(_noop, spec, config)
    timer = measure(time.perf_counter, spec, config)

    n = copy_bytes // 4 // 2  # two buffers of float32 share the budget: src + dst
    src = torch.ones(n, dtype=torch.float32)
    dst = torch.empty_like(src)
    copy = measure(lambda: dst.copy_(src), Spec("inference", "copy", "cpu", n), config)
    moved = 2 * n * 4  # read src + write dst
    del src, dst
    roofline = measure_roofline(threads, config, copy_bytes // 2)  # 3 arrays, each 2x a 32 MiB L3
    # the host's floor is the roofline (best of read/copy/triad), never below the copy itself
    per_device: dict[str, float] = {"cpu": max(moved / copy.median_s, roofline["roofline_bytes_per_s"])}
    for device in dict.fromkeys(devices):
        if device != "cpu":
            bw = device_copy_bandwidth(device, config, copy_bytes)
            if bw is not None:
                per_device[device] = bw
    return {
        "empty_call_s": empty.median_s,
        "timer_overhead_s": timer.median_s,
        "timer_resolution_s": clock_resolution_s(),
        "bandwidth_bytes_per_s": moved / copy.median_s,
        "bandwidth_copy_bytes": moved,
        "bandwidth_threads": threads,
        "bandwidth_warnings": list(copy.warnings),
        "device_bandwidth_bytes_per_s": per_device,
        **roofline,
        # the floor at each measured size >= LARGE_BATCH: never below the DRAM roofline
        "roofline_by_size_bytes_per_s": {
            n: max(bw, per_device["cpu"]) for n, bw in
            roofline_by_size(threads, config, [n for n in sizes if n >= LARGE_BATCH]).items()},
    }


def bytes_moved(spec: Spec) -> int:
    """The minimum traffic of one call of `spec` under the model in this module's docstring."""
    per = BYTES_PER_ELEMENT_INFERENCE if spec.phase == "inference" else BYTES_PER_SAMPLE_TRAINING
    return per * spec.batch_size


def device_bandwidth(floors: dict[str, Any] | None, device: str) -> float | None:
    """The copy floor of `device` in `floors` (results of measure_floors), or None without one.

    Older results have only the host copy (bandwidth_bytes_per_s): it judges "cpu" alone.
    """
    floors = floors or {}
    per_device = floors.get("device_bandwidth_bytes_per_s")
    if isinstance(per_device, dict):
        value = per_device.get(device)
    else:
        value = floors.get("bandwidth_bytes_per_s") if device == "cpu" else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def floors_by_size(floors: Mapping[str, Any], devices: Sequence[str], sizes: Sequence[int]
                   ) -> dict[str, dict[str, float]]:
    """{device: {str(size): bytes/s}}: the floor each large call is judged against, one lookup.

    A device's floor is its own copy floor (device_bandwidth_bytes_per_s); on the CPU a size the
    roofline was measured at (roofline_by_size_bytes_per_s: a call that fits a cache streams
    faster than DRAM allows) uses that. A device without a floor gets none (no efficiency)."""
    by_device = floors.get("device_bandwidth_bytes_per_s") or {}
    cpu_by_size = floors.get("roofline_by_size_bytes_per_s") or {}
    out: dict[str, dict[str, float]] = {}
    for device in devices:
        default = by_device.get(device)
        table = {str(n): (cpu_by_size.get(str(n)) if device == "cpu" else None) or default for n in sizes}
        out[device] = {n: bw for n, bw in table.items() if bw}
    return out


def with_efficiency(m: Measurement, floor_bytes_per_s: float | None) -> Measurement:
    """Attach bytes_moved, bytes_per_s and bandwidth_efficiency to a large-batch result.

    `floor_bytes_per_s` is the floor at the measurement's own device and size (floors_by_size;
    None: no efficiency is attached)."""
    if m.skipped or not m.times_s or m.spec.batch_size < LARGE_BATCH:
        return m
    moved = bytes_moved(m.spec)
    extra = dict(m.extra)
    extra["bytes_moved"] = moved
    extra["bytes_per_s"] = moved / m.median_s
    if floor_bytes_per_s:
        extra["bandwidth_efficiency"] = extra["bytes_per_s"] / floor_bytes_per_s
    return Measurement(m.spec, m.times_s, m.calls_per_sample, m.parity, m.warnings,
                       m.skip_reason, extra)
