"""The round-robin process order, the estimate's arithmetic and the roofline's arithmetic."""
from __future__ import annotations

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


def test_tracking_reference_cancels_the_host_state():
    procs = _slow_host([1.0, 2.2, 1.3, 1.0, 1.8], jitter=[1.0, 1.02, 0.99, 1.01, 1.0])
    est = estimate(procs, reference="torch_add_1")
    assert est["method"] == "reference-ratio" and est["reference"] == "torch_add_1"
    assert est["estimate_s"] == pytest.approx(1e-4, rel=0.02)  # the fast state, despite 2.2x phases
    low, high = est["interval_s"]
    assert low <= est["estimate_s"] <= high and high / low < 1.1
    assert est["spread"] == pytest.approx(2.2 * 1.02, rel=1e-6)


def test_reference_that_does_not_track_is_refused():
    # the reference moves on its own (a numpy copy for dispatch-bound work): ratios spread MORE
    procs = [_proc(1e-4 * w, 1e-6 * r)
             for w, r in zip([1.0, 1.1, 1.05, 0.98], [1.0, 1.7, 0.8, 1.3])]
    ok, why = reference_tracks(procs)
    assert not ok and "does not track" in why
    est = estimate(procs, reference="numpy_copy")
    assert est["method"] == "process-median" and est["reference"] is None
    assert est["estimate_s"] == pytest.approx(1e-4 * (1.0 + 1.05) / 2)


def test_quiet_host_accepts_a_reference_that_adds_little_noise():
    flat = [_proc(1e-4 * w, 1e-6 * r) for w, r in zip((1.0, 1.002, 0.999), (1.0, 1.01, 0.99))]
    ok, why = reference_tracks(flat)
    assert ok and why.startswith("quiet")
    est = estimate(flat, reference="dispatch", scale_s=0.9e-6)  # the run's fast state
    assert est["estimate_s"] == pytest.approx(100 * 0.9e-6, rel=0.02) and est["scale_s"] == 0.9e-6
    noisy = [_proc(1e-4, 1e-6 * f) for f in (1.0, 1.3, 0.9)]  # flat workload, noisy reference
    assert reference_tracks(noisy)[1].startswith("does not track")


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


def test_run_scale_is_the_p10_of_every_reference_block_of_a_kind():
    from bench.engine.reference import run_scales

    refs = [{"kind": "dispatch", "times_s": [float(t) for t in range(1, 11)]},
            {"kind": "dispatch", "times_s": [float(t) for t in range(11, 21)]},
            {"kind": "stream", "threads": 2, "times_s": [5.0, "x", -1, None]},
            {"kind": "stream", "threads": 1, "times_s": [9.0]}, {"kind": "stream"}]
    scales = run_scales(refs)  # one scale per kind and thread count (a record without: 1 thread)
    assert scales["dispatch/t1"] == pytest.approx(1 + 19 * 0.1)
    assert scales["stream/t2"] == 5.0 and scales["stream/t1"] == 9.0


def test_machine_calibration_is_set_by_the_first_run_and_survives_a_bad_file(tmp_path):
    from bench.store.calibration import machine_scales

    path = tmp_path / "scales.json"
    first = machine_scales({"autograd": 140e-6}, "k1", path)
    assert first["autograd"]["scale_s"] == 140e-6 and first["autograd"]["source"].startswith("this run")
    slower = machine_scales({"autograd": 160e-6, "ort": 2e-6}, "k1", path)
    assert slower["autograd"] == {"scale_s": 140e-6, "run_scale_s": 160e-6,
                                  "source": slower["autograd"]["source"]}
    assert "machine calibration" in slower["autograd"]["source"] and slower["ort"]["scale_s"] == 2e-6
    # a faster run does not move it either: one unusually fast run must not shift later estimates
    assert machine_scales({"autograd": 90e-6}, "k1", path)["autograd"] == {
        "scale_s": 140e-6, "run_scale_s": 90e-6, "source": slower["autograd"]["source"]}
    assert machine_scales({"autograd": 150e-6}, "k2", path)["autograd"]["scale_s"] == 150e-6  # own key
    for bad in (b"[1, 2", b'{"k1": {"autograd": {"scale_s": "fast"}}}', b"\x00" * 10):
        path.write_bytes(bad)
        warned = []
        assert machine_scales({"autograd": 130e-6}, "k1", path, warned.append)["autograd"]["scale_s"] == 130e-6
    assert machine_scales({"autograd": 111e-6}, "k1", path)["autograd"]["scale_s"] == 130e-6  # rewritten
    assert machine_scales({"autograd": 1e-4}, "k1", None)["autograd"]["scale_s"] == 1e-4  # "off"


def test_tracking_sees_one_slow_draw_among_three_and_one_among_twelve():
    # eager at 10^6 under load: one process 2.5x slow, its reference slowed alike (measured)
    three = [_proc(m * 1e-6, m * 1e-6 / r) for m, r in ((1729, 1.507), (680, 1.461), (686, 1.415))]
    assert reference_tracks(three)[0]
    twelve = [_proc(1e-4 * (2.0 if i == 5 else 1.0 + 0.01 * i), 1e-6 * (2.0 if i == 5 else 1.0))
              for i in range(12)]
    ok, why = reference_tracks(twelve)
    assert ok and "MAD" in why


def test_per_instance_unstable_warnings_become_one_line():
    from bench.engine.combine import _summarised

    lines = _summarised(["near timer", "unstable: IQR is 15.4% of the median (> 10%)",
                         "unstable: IQR is 25.7% of the median (> 10%)", "near timer"])
    assert lines == ["near timer", "unstable: IQR is 25.7% of the median (> 10%) "
                     "(the largest of 2 timed instances over 10%)"]


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


def test_each_runtime_family_gets_its_own_kind_of_reference_and_every_kind_runs():
    from bench.engine.measurement import Spec
    from bench.engine.reference import InterleavedReference, reference_kind
    from bench.engine.timing import QUICK_TIMING

    kinds = {(family, size): reference_kind(Spec("inference", "x", "cpu", size), family)
             for family in ("dispatch", "ort", "autograd") for size in (1, 10**6)}
    assert kinds == {("dispatch", 1): "dispatch", ("dispatch", 10**6): "stream",
                     ("ort", 1): "ort", ("ort", 10**6): "ort-stream",
                     ("autograd", 1): "autograd", ("autograd", 10**6): "stream"}
    for kind in set(kinds.values()):
        ref = InterleavedReference(kind, QUICK_TIMING)
        ref.sample()
        ref.sample()
        record = ref.record([2 * t for t in ref.times_s])
        assert record["kind"] == kind and record["ratio"] == pytest.approx(2.0)
        assert all(t > 0 for t in record["times_s"])
