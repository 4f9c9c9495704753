"""The round-robin process order, the estimate's arithmetic and the roofline's arithmetic."""
from __future__ import annotations

import math

import pytest

from bench.engine.estimate import (Draw, estimate, log_interval, outlier_processes,
                                   reference_tracks)
from bench.engine.roofline import best_kernel, measure_roofline, over_roofline
from bench.engine.schedule import round_robin
from bench.engine.timing import TimingConfig


def test_round_robin_rotates_each_round():
    order = round_robin(["A", "B", "C"], 3)
    assert [f"{u}{i + 1}" for u, i in order] == ["A1", "B1", "C1", "B2", "C2", "A2",
                                                 "C3", "A3", "B3"]


def test_round_robin_every_unit_every_position():
    order = round_robin(["A", "B"], 4)
    firsts = [order[2 * r][0] for r in range(4)]
    assert firsts.count("A") == firsts.count("B") == 2
    assert round_robin([], 3) == []
    with pytest.raises(ValueError, match="processes"):
        round_robin(["A"], 0)


def _slow_host(factors, workload=1e-4, reference=1e-6, jitter=()):
    """Processes on a host whose slow phases multiply workload and reference alike."""
    jitter = list(jitter) or [1.0] * len(factors)
    return [_proc(workload * f * j, reference * f) for f, j in zip(factors, jitter)]


def _proc(median_s, reference_s=None, blocks=4):
    """A process whose blocks all sit at its median, each paired with its reference block."""
    if reference_s is None:
        return Draw(median_s, times_s=(median_s,) * blocks)
    ratio = median_s / reference_s
    return Draw(median_s, reference_s, ratio, (ratio,) * blocks, (median_s,) * blocks)


def test_estimate_is_the_runs_own_time_and_the_host_ratio_is_apart():
    procs = _slow_host([1.0, 2.2, 1.3, 1.0, 1.8], jitter=[1.0, 1.02, 0.99, 1.01, 1.0])
    est = estimate(procs, reference="dispatch")
    # the published time is what was measured, its fast state: the first quartile of the draws'
    # medians (1.0, 1.01, 1.287, 1.8, 2.244 x 1e-4: the second of five), never rescaled
    assert est["method"] == "first quartile of draw medians"
    assert est["estimate_s"] == pytest.approx(1e-4 * 1.0 * 1.01)
    low, high = est["interval_s"]
    assert low <= est["estimate_s"] <= high
    assert est["draw_medians_s"] == [p.median_s for p in procs]
    # the host-normalised ratio cancels the 2.2x phases: a dimensionless figure for comparing runs
    host = est["host"]
    assert host["reference"] == "dispatch" and host["usable"] and host["tracking"].startswith("tracks")
    assert host["ratio"] == pytest.approx(100.0, rel=0.02)
    assert host["interval"][1] / host["interval"][0] < 1.1
    assert est["spread"] == pytest.approx(2.2 * 1.02, rel=1e-6)
    assert estimate(procs)["host"] is None  # no reference: no ratio


def test_a_slow_phase_over_half_the_draws_leaves_the_published_time_in_the_fast_state():
    # ONNX Runtime at batch 1 in a run whose host got busy half-way (measured: results.json of a
    # reference run): the median of the draw medians (4.8 us) fell between the two states
    draws_us = [3.71, 3.67, 3.67, 3.67, 3.67, 3.68, 3.74, 6.24, 7.49, 8.59, 7.45, 3.78, 3.84,
                6.57, 6.41, 6.7, 6.82, 5.69]
    est = estimate([_proc(d * 1e-6) for d in draws_us])
    assert est["estimate_s"] == pytest.approx(3.6875e-6)
    assert est["interval_s"] == pytest.approx([3.67e-6, 3.84e-6])


def test_the_quartile_interval_is_two_order_statistics_with_95_percent_cover():
    from math import comb

    from bench.engine.estimate import quantile_interval

    xs = [float(i) for i in range(1, 19)]
    low, high = quantile_interval(xs, 0.25)
    lo, up = int(low), int(high)
    cover = sum(comb(18, k) * 0.25 ** k * 0.75 ** (18 - k) for k in range(lo, up))
    assert cover >= 0.95 and (lo, up) == (1, 9)
    # too few draws for 95%: the lowest and the highest
    assert quantile_interval([3.0, 1.0, 2.0], 0.25) == (1.0, 3.0)


def test_reference_that_adds_noise_is_refused():
    # the reference moves on its own (a numpy copy for dispatch-bound work): ratios spread MORE
    procs = [_proc(1e-4 * w, 1e-6 * r)
             for w, r in zip([1.0, 1.1, 1.05, 0.98], [1.0, 1.7, 0.8, 1.3])]
    ok, why = reference_tracks(procs)
    assert not ok and "adds noise" in why
    est = estimate(procs, reference="numpy_copy")
    assert est["host"]["usable"] is False
    # the time does not need the reference: the first quartile of 0.98, 1.0, 1.05, 1.1 (x 1e-4)
    assert est["estimate_s"] == pytest.approx(1e-4 * (0.98 + 0.75 * 0.02))


def test_quiet_host_accepts_a_reference_that_adds_little_noise_but_not_one_that_doubles_it():
    ok, why = reference_tracks([_proc(1e-4 * w, 1e-6 * r)
                                for w, r in zip((1.0, 1.01, 0.99), (1.0, 0.997, 1.004))])
    assert ok and why.startswith("quiet")
    # raw 0.93% against ratios 2.37% (train_epoch/fused/40 in a real run): noise, not the host
    doubled = [_proc(1e-4 * w, 1e-6 * r) for w, r in zip((1.0, 1.009, 0.991, 1.0),
                                                         (1.0, 0.985, 1.03, 0.975))]
    assert reference_tracks(doubled)[1].startswith("adds noise")
    # ...said so, yet usable: 2.4% is too little to move a verdict, and refusing it sends the gate
    # to the times, which a run spent in one host phase moves 1.7x (results/spread)
    assert reference_tracks(doubled)[0] and "usable: the ratios spread <= 5%" in reference_tracks(doubled)[1]


def test_a_run_in_one_host_phase_keeps_its_ratios_usable_for_the_gate():
    # ONNX Runtime at batch 1, a whole run slow (measured: results/spread/quiet run01): the draws
    # cluster tightly (1.35% sd), the ratios carry the reference's own 3.7%
    draws = [6.61, 6.44, 6.69, 6.67, 6.7, 6.66, 6.76, 6.76, 6.69, 6.71, 6.74, 6.73, 6.64, 6.55, 6.59,
             6.77, 6.55, 6.7]
    ratios = [1.458, 1.319, 1.404, 1.425, 1.343, 1.314, 1.462, 1.464, 1.425, 1.452, 1.43, 1.424,
              1.469, 1.442, 1.423, 1.487, 1.448, 1.484]
    procs = [_proc(d * 1e-6, d * 1e-6 / r) for d, r in zip(draws, ratios)]
    ok, why = reference_tracks(procs)
    assert ok and why.startswith("adds noise") and "usable" in why
    from bench.engine.estimate import small_spread

    assert small_spread(ratios) and not small_spread([1.0, 1.7, 0.8, 1.3])


def test_fewer_than_three_processes_verify_on_block_pairs():
    # one process: the workload's blocks move with the host (1x..2x), the ratios do not
    host = [1.0, 1.9, 1.2, 1.0, 1.6, 1.1]
    one = Draw(1.5e-4, 1.5e-6, 100.0, tuple(100.0 * (1 + 0.01 * (i % 2)) for i in range(6)),
                        tuple(1e-4 * h for h in host))
    ok, why = reference_tracks([one])
    assert ok and "block pairs" in why
    assert not reference_tracks([Draw(1e-4, 1e-6, 100.0, (100.0,), (1e-4,))])[0]


def test_outlier_process_warns():
    assert outlier_processes([1.0, 1.1, 0.95, 2.3]) == [3]
    assert outlier_processes([1.0, 1.1, 0.95]) == []
    est = estimate([Draw(m) for m in (1.0, 1.1, 0.95, 2.3)])
    assert len(est["warnings"]) == 1 and "process 4 is an outlier" in est["warnings"][0]


def test_the_interval_of_18_draws_uses_t_with_17_degrees_of_freedom() -> None:
    """2.110, not the 1.96 a table to df 10 fell back to (7.6% too narrow at 18 draws)."""
    import statistics

    values = [1.0 + 0.01 * i for i in range(18)]
    logs = [math.log(v) for v in values]
    low, high = log_interval(values)
    half = math.log(high) - statistics.fmean(logs)
    assert half / (statistics.stdev(logs) / math.sqrt(18)) == pytest.approx(2.1098, abs=1e-3)


def test_interval_is_a_t_interval_on_logs_and_one_process_uses_its_samples():
    low, high = log_interval([1.0, 1.0, 1.0])
    assert low == high == pytest.approx(1.0)
    low, high = log_interval([1.0, 2.0])
    assert low < 2 ** 0.5 < high and low * high == pytest.approx(2.0)
    one = estimate([Draw(2.0)], within_samples=[1.9, 2.0, 2.1, 2.0])
    assert one["processes"] == 1 and one["interval_s"][0] < 2.0 < one["interval_s"][1]
    with pytest.raises(ValueError):
        estimate([])


def test_roofline_takes_the_best_kernel_and_flags_efficiency_over_one():
    assert best_kernel({"numpy_copy": 10e9, "torch_triad": 14e9, "numpy_read": 0.0}) == (
        "torch_triad", 14e9)
    with pytest.raises(ValueError):
        best_kernel({"x": 0.0})
    errors = over_roofline({"inference/torch_compile/1000000": 1.53,
                            "inference/eager/1000000": 0.4})
    assert len(errors) == 1 and "error of the floor" in errors[0] and "153%" in errors[0]


def test_measure_roofline_small():
    quick = TimingConfig(warmup_calls=1, warmup_s=0.0, min_total_s=0.01, min_samples=3)
    r = measure_roofline(1, quick, total_bytes=3_000_000)
    assert set(r["roofline_kernels"]) == {f"{lib}_{k}" for lib in ("numpy", "torch")
                                          for k in ("read", "copy", "triad")}
    assert r["roofline_bytes_per_s"] == max(r["roofline_kernels"].values()) > 0


class _FakeReference:
    """Counts its blocks; a reference block after every workload block, nothing else."""

    def __init__(self):
        self.times_s: list[float] = []

    def sample(self):
        self.times_s.append(2e-6)

    def record(self, workload_s):
        return {"kind": "dispatch", "blocks": len(self.times_s), "workload_blocks": len(workload_s)}


def test_measure_interleaves_one_reference_block_per_workload_block():
    from bench.engine.measurement import Spec
    from bench.engine.timing import measure

    ref = _FakeReference()
    config = TimingConfig(warmup_calls=1, warmup_s=0, min_sample_s=0, min_total_s=0, min_samples=7)
    m = measure(lambda: None, Spec("inference", "eager", "cpu", 1), config, reference=ref)
    assert m.extra["reference"] == {"kind": "dispatch", "blocks": 7, "workload_blocks": 7}


def test_tracking_sees_one_slow_draw_among_three_and_one_among_twelve():
    # eager at 10^6 under load: one process 2.5x slow, its reference slowed alike (measured)
    three = [_proc(m * 1e-6, m * 1e-6 / r) for m, r in ((1729, 1.507), (680, 1.461), (686, 1.415))]
    assert reference_tracks(three)[0]
    twelve = [_proc(1e-4 * (2.0 if i == 5 else 1.0 + 0.01 * i), 1e-6 * (2.0 if i == 5 else 1.0))
              for i in range(12)]
    ok, why = reference_tracks(twelve)
    assert ok and "MAD" in why


def test_warnings_and_efficiency_come_from_the_whole_measurement():
    from bench.engine.combine import combine
    from bench.engine.measurement import Measurement, Spec

    spec = Spec("inference", "eager", "cpu", 10**6)
    # process 1 is one unsteady instance (IQR 40%); all 30 samples together are steady
    wobbly = (1.0, 1.0, 1.4, 1.4, 1.0, 1.0, 1.4, 1.4, 1.0, 1.0)
    p1 = Measurement(spec, tuple(1e-3 * w for w in wobbly), warnings=(
        "unstable: IQR is 40.0% of the median (> 10%)", "near timer"),
        extra={"bytes_moved": 8e6, "bytes_per_s": 8e9 / 1.0, "bandwidth_efficiency": 0.5})
    steady = [Measurement(spec, (1.0e-3,) * 10, extra={"bytes_moved": 8e6}) for _ in range(2)]
    m = combine([p1, *steady])
    assert m.warnings == ("near timer",)  # pooled IQR 0%: no "unstable" line from one instance
    assert m.extra["estimate_s"] == pytest.approx(1.0e-3)
    # efficiency of estimate_s (1.0 ms) against the floor that process 1 used (16 GB/s)
    assert m.extra["bytes_per_s"] == pytest.approx(8e9)
    assert m.extra["bandwidth_efficiency"] == pytest.approx(0.5)
    noisy = combine([Measurement(spec, tuple(1e-3 * w for w in wobbly)) for _ in range(3)])
    assert any(w.startswith("unstable: IQR is 40.0%") and "all 30 samples" in w for w in noisy.warnings)


def test_efficiency_uses_the_floor_at_its_own_size():
    from bench.engine.floors import floors_by_size, with_efficiency
    from bench.engine.measurement import Measurement, Spec

    # 10^5 fits a cache: the CPU's roofline at that size is 10x the DRAM one; CUDA has its own
    floors = {"device_bandwidth_bytes_per_s": {"cpu": 10e9, "cuda": 3e12},
              "roofline_by_size_bytes_per_s": {"100000": 100e9}}
    table = floors_by_size(floors, ["cpu", "cuda", "mps"], [1, 100_000, 10**6])
    assert table == {"cpu": {"1": 10e9, "100000": 100e9, "1000000": 10e9},
                     "cuda": {"1": 3e12, "100000": 3e12, "1000000": 3e12}, "mps": {}}
    m = Measurement(Spec("inference", "eager", "cpu", 100_000), (1e-5,) * 5)
    e = with_efficiency(m, table["cpu"]["100000"]).extra
    assert e["bytes_per_s"] == pytest.approx(8e5 / 1e-5) and e["bandwidth_efficiency"] == pytest.approx(0.8)
    big = Measurement(Spec("inference", "eager", "cpu", 10**6), (1e-3,) * 5)
    assert with_efficiency(big, table["cpu"]["1000000"]).extra["bandwidth_efficiency"] == pytest.approx(8e6 / 1e-3 / 10e9)
    assert "bandwidth_efficiency" not in with_efficiency(big, table["mps"].get("1000000")).extra


def test_each_runtime_family_gets_its_own_kind_of_reference_and_every_kind_runs_in_a_companion():
    import os

    from bench.engine.companion import CompanionReference, shared_companion
    from bench.engine.measurement import Spec
    from bench.engine.reference import reference_kind
    from bench.engine.timing import QUICK_TIMING

    kinds = {(family, size): reference_kind(Spec("inference", "x", "cpu", size), family)
             for family in ("dispatch", "ort", "autograd") for size in (1, 10**6)}
    assert kinds == {("dispatch", 1): "dispatch", ("dispatch", 10**6): "stream",
                     ("ort", 1): "ort", ("ort", 10**6): "ort-line",
                     ("autograd", 1): "autograd", ("autograd", 10**6): "stream"}
    for kind in sorted(set(kinds.values()) | {"ort-stream"}):  # a plug-in may still name it
        ref = CompanionReference(kind, 1, QUICK_TIMING)
        ref.sample()
        ref.sample()
        record = ref.record([2 * t for t in ref.times_s])
        assert record["kind"] == kind and record["ratio"] == pytest.approx(2.0)
        assert record["where"] == "companion process" and all(t > 0 for t in record["times_s"])
    # one companion for the whole worker process, and it is another process
    companion = shared_companion()
    assert companion.proc.pid != os.getpid() and companion.proc.poll() is None
