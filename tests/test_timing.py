"""The measurement engine: calibration against a fake clock, sync hooks, statistics, warnings, floors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.engine.floors import bytes_moved, measure_floors, with_efficiency
from bench.engine.measurement import Measurement, Spec
from bench.engine.parity import check_parity, compare_outputs, max_ulp
from bench.engine.timing import (TimingConfig, calibrate, loop_timer, measure, skipped,
                                 stability_warnings)
from bench.engine.tub_timer import torch_timer

SPEC = Spec("inference", "fake", "cpu", 1)
TINY = TimingConfig(warmup_calls=2, warmup_s=0.0, min_sample_s=0.0005, min_total_s=0.002,
                    min_samples=3, max_total_s=0.5)


class FakeClock:
    """Time advances only when the timed function runs: `dt` seconds per call."""

    def __init__(self, dt: float) -> None:
        self.t = 0.0
        self.dt = dt
        self.calls = 0

    def __call__(self) -> float:
        return self.t

    def fn(self) -> None:
        self.calls += 1
        self.t += self.dt


def test_calibration_grows_calls_until_a_sample_reaches_min_sample_s() -> None:
    clock = FakeClock(1e-6)
    config = TimingConfig(warmup_calls=5, warmup_s=0.0, min_sample_s=1e-3, min_total_s=0.05,
                          min_samples=10, max_total_s=1.0)
    m = measure(clock.fn, SPEC, config, clock=clock, resolution_s=1e-9)
    assert m.calls_per_sample * 1e-6 >= 1e-3            # one sample lasts >= min_sample_s
    assert m.calls_per_sample <= 100 * 1000             # ...without overshooting wildly
    assert len(m.times_s) >= 10                          # min samples
    assert sum(m.times_s) * m.calls_per_sample >= 0.05 - 1e-12  # and min total time
    assert all(t == pytest.approx(1e-6) for t in m.times_s)     # seconds per call, not per block
    assert m.median_s == pytest.approx(1e-6) and m.iqr_s == pytest.approx(0.0, abs=1e-15)
    assert m.warnings == ()
    assert "minor_faults_per_call" in m.extra


def test_a_later_round_keeps_the_first_rounds_calls_and_skips_calibration() -> None:
    clock = FakeClock(1e-6)
    config = TimingConfig(warmup_calls=0, warmup_s=0.0, min_sample_s=1e-3, min_total_s=0.01,
                          min_samples=3, max_total_s=1.0)
    blocks: list[int] = []

    def block(n: int) -> float:
        blocks.append(n)
        return n * 1e-6

    m = measure(clock.fn, SPEC, config, clock=clock, block=block, resolution_s=1e-9, calls=77)
    assert m.calls_per_sample == 77 and set(blocks) == {77}  # no growing blocks: no calibration
    assert len(m.times_s) == len(blocks) >= 3


def test_calibrate_returns_first_block_count_reaching_target() -> None:
    n, elapsed = calibrate(lambda n: n * 1e-5, min_sample_s=1e-3)
    assert n * 1e-5 >= 1e-3 and elapsed == n * 1e-5
    n, _ = calibrate(lambda n: 0.5, min_sample_s=1e-3)  # a slow call: one per sample
    assert n == 1


def test_slow_calls_stop_at_max_total_and_warn_too_few_samples() -> None:
    clock = FakeClock(0.25)  # exact in binary: 4 samples reach 1.0 s
    config = TimingConfig(warmup_calls=1, warmup_s=0.0, min_sample_s=0.001, min_total_s=0.1,
                          min_samples=10, max_total_s=1.0)
    m = measure(clock.fn, SPEC, config, clock=clock, resolution_s=1e-9)
    assert m.calls_per_sample == 1
    assert len(m.times_s) == 4
    assert any(w.startswith("too few samples") for w in m.warnings)


def test_sync_hook_runs_around_every_block() -> None:
    clock = FakeClock(1e-4)
    syncs: list[float] = []
    m = measure(clock.fn, SPEC, TINY, clock=clock, sync=lambda: syncs.append(clock.t),
                resolution_s=1e-9)
    blocks = len(m.times_s)
    assert len(syncs) >= 2 * blocks  # before and after each timed block (plus calibration)


def test_torch_timer_blocks_use_the_sync_hook_and_time_real_calls() -> None:
    syncs = []
    block = torch_timer(lambda: None, threads=1, sync=lambda: syncs.append(1))
    assert block(100) > 0
    assert len(syncs) >= 2
    assert loop_timer(lambda: None)(10) >= 0


def test_stability_warnings() -> None:
    steady = [1.0e-3] * 20
    assert stability_warnings(steady, 10, 10, 1e-9) == []
    noisy = [1e-3, 2e-3] * 10
    assert any(w.startswith("unstable") for w in stability_warnings(noisy, 10, 10, 1e-9))
    assert any(w.startswith("too few") for w in stability_warnings(steady[:3], 10, 10, 1e-9))
    near = stability_warnings([1e-7] * 20, 1, 10, 5e-8)  # a 100 ns sample on a 50 ns clock
    assert any(w.startswith("near timer resolution") for w in near)


def test_statistics_derive_from_raw_samples() -> None:
    m = Measurement(SPEC, (4.0, 1.0, 3.0, 2.0, 5.0), calls_per_sample=7)
    d = m.to_dict()
    assert d["median_s"] == 3.0 and d["iqr_s"] == 2.0 and d["min_s"] == 1.0 and d["max_s"] == 5.0
    assert d["times_s"] == [4.0, 1.0, 3.0, 2.0, 5.0]
    assert Measurement.from_dict(d).times_s == m.times_s


def test_skip_record_carries_reason_instead_of_samples() -> None:
    d = skipped(Spec("inference", "onnxruntime", "cuda", 10), "cuda: no CUDA device").to_dict()
    assert d["skip_reason"] == "cuda: no CUDA device"
    assert "times_s" not in d and "median_s" not in d


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        TimingConfig(min_samples=0)
    with pytest.raises(ValueError, match="max_total_s"):
        TimingConfig(min_total_s=2.0, max_total_s=1.0)


def test_ulp_and_abs_error() -> None:
    one = np.float32(1.0)
    assert max_ulp(np.array([one]), np.array([np.nextafter(one, np.float32(2))])) == 1
    assert max_ulp(np.array([-0.0], np.float32), np.array([0.0], np.float32)) == 0
    tiny = np.float32(1e-45)
    assert max_ulp(np.array([-tiny]), np.array([tiny])) == 2  # across zero: -1 ulp .. +1 ulp
    err, ulp = compare_outputs(np.ones(3, np.float32), np.ones(3, np.float32))
    assert (err, ulp) == (0.0, 0)
    p = check_parity(np.array([1.0], np.float32), np.array([1.5], np.float32), 1e-6)
    assert not p.passed and p.max_abs_error == 0.5
    assert check_parity(np.ones(2, np.float32), np.ones(2, np.float32), None).tolerance == "bit-exact"


def test_floors_are_positive_and_efficiency_attaches_to_large_batches() -> None:
    floors = measure_floors(1, TINY, copy_bytes=4_000_000)
    for key in ("empty_call_s", "timer_overhead_s", "timer_resolution_s", "bandwidth_bytes_per_s"):
        assert floors[key] > 0 and math.isfinite(floors[key]), key
    big = Measurement(Spec("inference", "eager", "cpu", 10**6), (1e-3, 1e-3))
    out = with_efficiency(big, 8e9)
    assert out.extra["bytes_moved"] == 8 * 10**6 == bytes_moved(big.spec)
    assert out.extra["bytes_per_s"] == pytest.approx(8e9)
    assert out.extra["bandwidth_efficiency"] == pytest.approx(1.0)
    small = Measurement(Spec("inference", "eager", "cpu", 10), (1e-6,))
    assert "bytes_moved" not in with_efficiency(small, 8e9).extra


def test_torch_timer_block_runs_exactly_n_calls() -> None:
    # Timer.timeit(n) would add max(n // 100, 2) hidden warmup calls to every block, which the
    # fault count and the time budget do not see: a block must be exactly the n timed calls.
    calls = [0]

    def fn() -> None:
        calls[0] += 1

    block = torch_timer(fn, threads=1)
    for n in (1, 7, 300):
        calls[0] = 0
        block(n)
        assert calls[0] == n


def test_unstable_warning_prints_one_decimal() -> None:
    samples = [0.9307] * 3 + [1.0] * 4 + [1.0693] * 3  # IQR 10.4% of the median, not "10% (> 10%)"
    (warning,) = [w for w in stability_warnings(samples, 10, 10, 1e-9) if w.startswith("unstable")]
    assert "IQR is 10." in warning and "IQR is 10% " not in warning


def test_efficiency_uses_the_floor_of_the_measurements_own_device() -> None:
    from bench.engine.floors import device_bandwidth

    floors = {"bandwidth_bytes_per_s": 1e10, "device_bandwidth_bytes_per_s": {"cpu": 1e10}}
    assert device_bandwidth(floors, "cpu") == 1e10
    assert device_bandwidth(floors, "cuda") is None  # never judged against host memory
    assert device_bandwidth({"bandwidth_bytes_per_s": 1e10}, "cuda:1") is None  # old results
    assert device_bandwidth({"bandwidth_bytes_per_s": 1e10}, "cpu") == 1e10


def test_every_timing_loop_keeps_one_gc_policy() -> None:
    """The collector is off inside timed blocks and single timed calls, on again afterwards."""
    import gc

    from bench.engine.timing import GC_POLICY, time_each_call

    seen: list[bool] = []

    def probe() -> None:
        seen.append(gc.isenabled())

    assert gc.isenabled()
    loop_timer(probe)(3)
    torch_timer(probe, threads=1)(3)
    samples = time_each_call(probe, 3, TimingConfig(warmup_calls=0, warmup_s=0.0))
    assert seen == [False] * 9 and gc.isenabled() and len(samples.times_s) == 3
    assert TimingConfig().gc == GC_POLICY
    with pytest.raises(ValueError, match="one policy"):
        TimingConfig(gc="on")
