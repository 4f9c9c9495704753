"""The measurement engine: warmups, calibrated blocks of calls, raw samples, stability warnings.

How one measurement runs (the shape of torch.utils.benchmark's blocked_autorange, plus pyperf's
minimums and warnings):
  1. warmups: at least `warmup_calls` calls and at least `warmup_s` seconds (caches, allocator,
     lazy initialisation, JIT specialisation all happen here, not in the samples);
  2. calibration: calls_per_sample doubles (or jumps by the missing factor) until one block of
     calls lasts `min_sample_s`, so the clock's resolution and overhead are < 0.1% of a sample;
  3. samples: blocks of calls_per_sample calls, until BOTH `min_total_s` of timed work AND
     `min_samples` samples (or the `max_total_s` cap, which then warns).
The garbage collector is off inside every timed block and on between them (GC_POLICY, recorded
in results.json config.timing.gc), as timeit and torch.utils.benchmark do: a collection that
happens to fall into one block is the collector's cost, not the callable's. Calls that must be
timed one by one (time_each_call, the one per-call timer) follow the same warmup rule and GC policy.
Each sample is stored as seconds per call (block time / calls_per_sample): the raw samples are
kept, statistics are derived from them (bench.engine.measurement.Measurement).

The clock and the `sync` hook are pluggable: tests drive calibration with a fake clock, and on a
GPU `sync` is torch.cuda.synchronize (or an ORT io_binding's synchronize_outputs), called once at
the end of each block, before the clock stops (note: a CPU-GPU sync point, outside the calls).
"""
from __future__ import annotations

import contextlib
import gc
import math
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Callable

from bench.engine.measurement import Measurement, Parity, Spec
from bench.engine.units import format_duration

Clock = Callable[[], float]
BlockTimer = Callable[[int], float]  # runs n calls and returns the seconds they took

UNSTABLE_PREFIX = "unstable: IQR is "  # how the warning below starts (combine summarises them)
UNSTABLE_IQR_RATIO = 0.10      # pyperf and TUB's adaptive_autorange both draw the line at 10%
RESOLUTION_FACTOR = 1000       # a block shorter than 1000x the clock's resolution/overhead warns
MAX_CALLS_PER_SAMPLE = 1 << 24
ROUNDS_BELOW = 10_000_000      # from here on a call takes ~10 ms: one instance (rounds cost seconds)
GC_POLICY = "off inside timed blocks"  # the one policy of every timing loop (see the docstring)


@dataclass(frozen=True)
class TimingConfig:
    warmup_calls: int = 10        # optimum-benchmark's 10 warmups
    warmup_s: float = 0.05        # ...and at least this long, so big sizes warm their pages too
    min_sample_s: float = 0.010   # a block lasts >= 10 ms, 2x CPython's 5 ms GIL switch (BLOCK_RULE)
    min_total_s: float = 0.5      # timed work per measurement, TUB's blocked_autorange default
    min_samples: int = 3          # ...and at least this many blocks per draw (a median of 3)
    max_total_s: float = 10.0     # cap for very slow calls; fewer samples then, with a warning
    gc: str = GC_POLICY           # recorded, not a choice: every loop here keeps this one policy
    latency_calls: int = 20_000   # inference: single calls timed one by one (p99.9 needs 10,000)
    latency_max_s: float = 0.5    # ...but at most this long (big batches get fewer, and say so)
    reference: bool = False       # CPU: a same-kind reference block after each block (reference.py)
    rounds: int = 6               # sizes < ROUNDS_BELOW: fresh instances timed apart (x 6 processes = 36 draws)
    latency: bool = True          # time single calls too (the suite: in the first of K processes)

    def __post_init__(self) -> None:
        if self.warmup_calls < 0:
            raise ValueError(f"warmup_calls must be >= 0, got {self.warmup_calls}")
        for name in ("warmup_s", "min_sample_s", "min_total_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.gc != GC_POLICY:
            raise ValueError(f"gc must be {GC_POLICY!r} (the engine's one policy), got {self.gc!r}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.latency_calls < 1 or not self.latency_max_s > 0:
            raise ValueError(f"latency_calls must be >= 1 and latency_max_s > 0, got "
                             f"{self.latency_calls} and {self.latency_max_s}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.max_total_s < self.min_total_s:
            raise ValueError(
                f"max_total_s ({self.max_total_s}) must be >= min_total_s ({self.min_total_s})"
            )

    def rounds_for(self, size: int) -> int:
        """Rounds for a call of `size`: a call's time varies between instances (where its buffers
        landed: ONNX Runtime at 10^6 moved 1.8-2.6x its reference between processes); from
        ROUNDS_BELOW on a round costs seconds, and one instance is timed. torch.compile compiles
        in a size's first round only: later rounds run that code on fresh buffers."""
        return self.rounds if size < ROUNDS_BELOW else 1

    def per_round(self, rounds: int) -> "TimingConfig":
        """The budget of one of `rounds` rounds: the timed work and the warmup time are shared
        (the runtime is loaded and warm; a fresh instance needs only its own first calls),
        min_samples and warmup_calls each."""
        return replace(self, min_total_s=self.min_total_s / rounds, warmup_s=self.warmup_s / rounds)


# BLOCK_RULE: a GIL-holding thread waits up to the 5 ms switch interval for a running caller,
# but takes the GIL at once when the caller blocks between blocks: with 2 ms blocks its true
# 1.25x read as 1.03x, with 10 ms blocks 1.22-1.25x (results/regressions).
NO_WARMUP = TimingConfig(warmup_calls=0, warmup_s=0.0)  # the caller has just warmed the call up
QUICK_TIMING = TimingConfig(warmup_calls=3, warmup_s=0.005, min_sample_s=0.005,
                            min_total_s=0.05, min_samples=2, max_total_s=1.0,
                            latency_calls=2_000, latency_max_s=0.05, rounds=3)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for a timed block, back as it was afterwards (GC_POLICY)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def minor_faults() -> int:
    """Minor page faults of this process so far (all threads): fresh pages the allocator touched."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def clock_resolution_s(clock: Clock = time.perf_counter, tries: int = 2000) -> float:
    """The smallest step between two clock readings: resolution and call overhead together."""
    best = math.inf
    for _ in range(tries):
        a = clock()
        b = clock()
        while b == a:  # a coarse clock: wait for it to tick
            b = clock()
        best = min(best, b - a)
    return best


def loop_timer(fn: Callable[[], Any], clock: Clock = time.perf_counter,
               sync: Callable[[], None] | None = None) -> BlockTimer:
    """The plain block timer: n calls, then sync, between two clock readings."""

    def run(n: int) -> float:
        if sync is not None:
            sync()  # nothing queued from before may leak into this block
        with gc_paused():
            start = clock()
            for _ in range(n):
                fn()
            if sync is not None:
                sync()
            return clock() - start

    return run


def calibrate(block: BlockTimer, min_sample_s: float) -> tuple[int, float]:
    """Grow calls per block until one block lasts min_sample_s; returns (calls, last block's s)."""
    n = 1
    while True:
        elapsed = min(block(n), block(n))  # the faster of two: one preempted block cannot stop growth
        if elapsed >= min_sample_s or n >= MAX_CALLS_PER_SAMPLE:
            return n, elapsed
        if elapsed <= 0:
            factor = 10
        else:  # jump close to the target, but at least double and at most x100 per step
            factor = min(100, max(2, math.ceil(1.2 * min_sample_s / elapsed)))
        n = min(n * factor, MAX_CALLS_PER_SAMPLE)


def stability_warnings(times_s: tuple[float, ...] | list[float], calls_per_sample: int,
                       min_samples: int, resolution_s: float) -> list[str]:
    """pyperf-style warnings: spread, too few samples, samples near the clock's resolution."""
    out: list[str] = []
    if not times_s:
        return ["no samples"]
    if len(times_s) < min_samples:
        out.append(f"too few samples: {len(times_s)} < {min_samples} (hit max_total_s)")
    m = Measurement(Spec("inference", "_", "_", 1), tuple(times_s))
    if m.median_s > 0 and m.iqr_s / m.median_s > UNSTABLE_IQR_RATIO:
        out.append(f"{UNSTABLE_PREFIX}{100 * m.iqr_s / m.median_s:.1f}% of the median (> 10%)")
    block_s = m.median_s * calls_per_sample
    if resolution_s > 0 and block_s < RESOLUTION_FACTOR * resolution_s:
        out.append(f"near timer resolution: a sample lasts {format_duration(block_s)}, "
                   f"< {RESOLUTION_FACTOR}x the clock's {format_duration(resolution_s)}")
    return out


def measure(
    fn: Callable[[], Any],
    spec: Spec,
    config: TimingConfig = TimingConfig(),
    *,
    clock: Clock = time.perf_counter,
    sync: Callable[[], None] | None = None,
    block: BlockTimer | None = None,
    parity: Parity | None = None,
    resolution_s: float | None = None,
    extra: dict[str, Any] | None = None,
    reference: Any = None,
    calls: int | None = None,
) -> Measurement:
    """Warm up, calibrate, sample; a Measurement with raw per-call samples and its warnings.

    `block` overrides how a block of calls is timed (e.g. torch_timer); by default n calls run
    between two `clock` readings with `sync` before the clock stops. Minor page faults per call
    are recorded in extra["minor_faults_per_call"]. `reference` (an InterleavedReference) times
    one reference block right after every workload block; its record is extra["reference"].
    `calls` per block, when given, skips calibration (a later round of the same call: same cost).
    """
    block = block or loop_timer(fn, clock, sync)
    warm_up(fn, config, clock, sync)
    n = calls if calls else calibrate(block, config.min_sample_s)[0]

    faults_before = minor_faults()
    samples: list[float] = []
    total = 0.0
    while True:
        elapsed = block(n)
        samples.append(elapsed / n)
        total += elapsed
        if reference is not None:
            reference.sample()  # the same moment's host state, for the workload/reference ratio
        enough = total >= config.min_total_s and len(samples) >= config.min_samples
        if enough or total >= config.max_total_s:
            break
    faults = minor_faults() - faults_before

    if resolution_s is None:
        resolution_s = clock_resolution_s(clock, tries=50) if clock is time.perf_counter else 0.0
    warnings = stability_warnings(samples, n, config.min_samples, resolution_s)
    info: dict[str, Any] = {"minor_faults_per_call": faults / (n * len(samples))}
    info.update(extra or {})
    if reference is not None:
        info["reference"] = reference.record(samples)
    return Measurement(spec=spec, times_s=tuple(samples), calls_per_sample=n, parity=parity,
                       warnings=tuple(warnings), extra=info)


def warm_up(fn: Callable[[], Any], config: TimingConfig, clock: Clock = time.perf_counter,
            sync: Callable[[], None] | None = None) -> int:
    """The one warmup rule: at least `warmup_calls` calls AND at least `warmup_s` seconds."""
    start = clock()
    calls = 0
    while calls < config.warmup_calls or clock() - start < config.warmup_s:
        fn()
        calls += 1
    if sync is not None and calls:
        sync()
    return calls


@dataclass(frozen=True)
class CallSamples:
    times_s: tuple[float, ...]       # one per call, warmups excluded
    minor_faults_per_call: float


def time_each_call(fn: Callable[[], Any], calls: int, config: TimingConfig = TimingConfig(), *,
                   before: Callable[[], Any] | None = None, sync: Callable[[], None] | None = None,
                   budget_s: float = math.inf, min_calls: int = 1,
                   clock: Clock = time.perf_counter) -> CallSamples:
    """Seconds of each of up to `calls` single calls of `fn`, each between its own clock pair.

    The one per-call timer, for what a calibrated block cannot measure: the tail of single calls
    (per-request latency), calls long enough to be timed alone (export-speed's large batches), and
    calls that need `before` to run untimed ahead of each (the ORT interference probe). The warmup
    rule runs first (NO_WARMUP skips it, right after a measurement's blocks), the GC is off for
    the whole loop (GC_POLICY), `sync` runs inside every timed call (on CUDA the call only queues
    work: one CPU-GPU sync point per call). It stops early once `budget_s` has passed and
    `min_calls` are done, or at 4x budget_s whatever the count (a very slow call).
    """
    warm_up(fn, config, clock, sync)
    timed = fn if sync is None else _then_sync(fn, sync)  # no branch inside the clock pair
    times: list[float] = []
    append = times.append
    faults_before = minor_faults()
    with gc_paused():
        if sync is not None:
            sync()  # nothing queued before may land in the first call
        start = clock()
        for i in range(calls):
            if before is not None:
                before()
            t0 = clock()
            timed()
            t1 = clock()
            append(t1 - t0)
            spent = t1 - start
            if spent >= budget_s and (i + 1 >= min_calls or spent >= 4 * budget_s):
                break
    return CallSamples(tuple(times), (minor_faults() - faults_before) / max(len(times), 1))


def _then_sync(fn: Callable[[], Any], sync: Callable[[], None]) -> Callable[[], None]:
    """fn, then the device sync: one timed call on a device that only queues work."""
    def call() -> None:
        fn()
        sync()
    return call


def skipped(spec: Spec, reason: str, **extra: Any) -> Measurement:
    """The record of a measurement that could not run here: nothing goes silently missing."""
    return Measurement(spec=spec, skip_reason=reason, extra=dict(extra))
