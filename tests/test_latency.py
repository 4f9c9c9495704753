"""Per-request latency arithmetic (bench.engine.latency) and memory tracking (bench.engine.memory)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.engine.latency import (LatencyConfig, calls_needed, cdf_points, reliability_warnings, summarize,
                                  time_single_calls, unreliable_percentiles, with_latency)
from bench.engine.measurement import Measurement, Spec
from bench.engine.memory import MemoryTracker
from bench.engine.timing import TimingConfig


def test_summarize_matches_numpy_linear_percentiles() -> None:
    times = list(np.random.default_rng(0).lognormal(-11, 0.5, 12_345))
    summary = summarize(times)
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        assert summary[key] == pytest.approx(np.percentile(times, q), rel=1e-12), key
    assert summary["max"] == max(times) and summary["n"] == 12_345


def test_one_stall_is_the_max_not_averaged_away() -> None:
    times = [6e-6] * 9_980 + [4e-3] * 20  # blocks of 800 calls would average to ~6-106 us
    summary = summarize(times)
    assert summary["p50"] == 6e-6 and summary["max"] == 4e-3
    assert summary["p999"] == 4e-3  # 20 stalls in 10,000 calls: the p99.9 is a stall


def test_calls_needed_and_reliability() -> None:
    assert calls_needed(99.9) == 10_000 and calls_needed(99) == 1_000 and calls_needed(90) == 100
    assert unreliable_percentiles(20_000) == []
    assert unreliable_percentiles(5_000) == ["p999"]
    assert unreliable_percentiles(500) == ["p99", "p999"]
    assert reliability_warnings(20_000) == []
    (warning,) = reliability_warnings(500)
    assert "p99, p999 unreliable: 500 single calls, 10000 needed" in warning


def fake_clock(step_ns: int) -> tuple[list[int], object]:
    ticks = itertools.count(0, step_ns)
    return [], lambda: next(ticks) / 1e9  # a seconds clock, as time.perf_counter


def test_single_calls_stop_at_max_calls_and_sync_every_call() -> None:
    syncs: list[int] = []
    _, clock = fake_clock(1_000)  # every reading 1 us later: each call reads 1 us
    times = time_single_calls(lambda: None, LatencyConfig(max_calls=50, max_s=10.0), lambda: syncs.append(1), clock)
    assert len(times) == 50 and all(t == pytest.approx(1e-6) for t in times)
    assert len(syncs) == 51  # one before the first call, then one inside every timed call


def test_single_calls_stop_at_the_time_budget_after_min_calls() -> None:
    _, clock = fake_clock(10_000_000)  # 10 ms per reading: a slow call
    times = time_single_calls(lambda: None, LatencyConfig(max_calls=10_000, max_s=0.1, min_calls=3), None, clock)
    assert 3 <= len(times) < 10


def test_cdf_keeps_only_the_tail_the_calls_reach() -> None:
    cdf = cdf_points([float(i) for i in range(1, 101)])  # 100 calls: nothing beyond q = 0.99
    assert max(cdf["q"]) == pytest.approx(0.99) and cdf["s"][-1] == 100.0
    assert cdf["q"] == sorted(cdf["q"]) and cdf["s"] == sorted(cdf["s"])
    assert cdf_points([]) == {"q": [], "s": []}


def test_with_latency_adds_fields_and_warns_when_too_few() -> None:
    m = Measurement(Spec("inference", "eager", "cpu", 1), (1e-6,) * 5)
    out = with_latency(m, lambda: None, None, TimingConfig(latency_calls=300, latency_max_s=1.0))
    assert out.extra["latency_s"]["n"] == 300 and out.extra["latency_s"]["clock_overhead_s"] > 0
    assert out.extra["latency_unreliable"] == ["p99", "p999"]
    assert any("unreliable" in w for w in out.warnings)
    entry = out.to_dict()
    assert set(entry["latency_s"]) == {"p50", "p90", "p99", "p999", "max", "n", "clock_overhead_s"}
    assert "block_p05_s" in entry and "p05_s" not in entry


def test_timing_config_rejects_bad_latency_settings() -> None:
    with pytest.raises(ValueError, match="latency_calls"):
        TimingConfig(latency_calls=0)
    with pytest.raises(ValueError, match="latency_max_s"):
        TimingConfig(latency_max_s=0.0)


def test_memory_tracker_sees_an_allocation_above_its_baseline() -> None:
    tracker = MemoryTracker("cpu")
    tracker.start()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    record = tracker.record()
    assert record["rss_peak_above_baseline_bytes"] >= 60 * 2**20
    assert record["rss_baseline_bytes"] > 0 and record["rss_peak_scope"] in ("measurement", "process")
    del block
    assert "cuda_max_allocated_bytes" not in record


@pytest.mark.cuda
def test_cuda_measurement_syncs_each_call_and_records_cuda_memory(exported) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from bench.runtimes.base import Artifacts
    from bench.runtimes.measure import measure_inference

    timing = TimingConfig(min_total_s=0.01, min_samples=3, latency_calls=500, latency_max_s=0.2)
    (m,) = measure_inference("eager", "cuda", [1000], Artifacts.from_export_dir(exported), 1, timing)
    entry = m.to_dict()
    assert entry["latency_s"]["n"] == 500 and entry["latency_s"]["p50"] > entry["latency_s"]["clock_overhead_s"]
    assert entry["memory"]["cuda_max_allocated_bytes"] >= 4000  # at least the batch's output
