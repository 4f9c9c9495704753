"""Orchestration and isolation: the plan's skip records, the worker protocol, a real worker."""
from __future__ import annotations

import io
import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from bench.engine.measurement import Measurement
from bench.runtimes.base import Artifacts
from bench.runtimes.measure import measure_inference
from bench.suite import (QUICK_COMPILE_SKIP, SuiteConfig, SuiteError, planned_jobs,
                         count_measurements)
from bench.engine.timing import TimingConfig
from bench.worker import ALLOCATOR_ENV, main as worker_main, run_worker

TINY = TimingConfig(warmup_calls=1, warmup_s=0.0, min_sample_s=0.0002, min_total_s=0.002,
                    min_samples=3, max_total_s=0.3)
NO_CUDA = not torch.cuda.is_available()


def training_job(**kw: object) -> dict:
    return {"task": "training", "variant": "eager", "devices": ["cpu"], "sizes": [40],
            "threads": 1, "timing": asdict(TINY), "parity_epochs": 2, **kw}


def test_worker_round_trip_in_a_subprocess_with_allocator_settings() -> None:
    got: list[Measurement] = []
    final = run_worker(training_job(), got.append)
    assert final["done"] is True
    assert [m.spec.label for m in got] == ["train_epoch/eager/cpu/40"]
    assert got[0].times_s and got[0].spec.threads == 1
    assert final["process"]["allocator"] == ALLOCATOR_ENV
    assert final["process"]["torch_threads"] == 1


def test_worker_protocol_in_process_and_its_error_line() -> None:
    out = io.StringIO()
    assert worker_main(io.StringIO(json.dumps(training_job())), out) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert "measurement" in lines[0] and lines[-1]["done"] is True
    out = io.StringIO()
    assert worker_main(io.StringIO(json.dumps({"task": "nonsense"})), out) == 1
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["done"] is False and "nonsense" in last["error"]


def test_failed_worker_raises_with_its_reason() -> None:
    with pytest.raises(RuntimeError, match="nonsense"):
        run_worker({"task": "nonsense"}, lambda m: None)


@pytest.mark.skipif(not NO_CUDA, reason="checks the records of a machine without CUDA")
def test_plan_records_absent_devices_and_quick_compile_as_skips() -> None:
    config = SuiteConfig.quick(runtimes=("eager", "torch_compile"), variants=("eager", "cuda_graph"))
    plan = planned_jobs(config, Artifacts(Path("model.pth")))
    skips = [m for _, s in plan for m in s]
    reasons = {(m.spec.phase, m.spec.runtime, m.spec.device): m.skip_reason for m in skips}
    assert reasons[("inference", "eager", "cuda")] == "cuda: no CUDA device"
    assert reasons[("inference", "torch_compile", "cpu")] == QUICK_COMPILE_SKIP
    assert reasons[("train_epoch", "cuda_graph", "cpu")] == "CUDA graphs need a CUDA device"
    jobs = [j for j, _ in plan if j]
    assert [(j["task"], j["devices"]) for j in jobs] == [("training", ["cpu"]), ("inference", ["cpu"])]
    runnable = sum(len(j["sizes"]) * len(j["devices"]) for j in jobs)
    assert runnable + len(skips) == count_measurements(config)


def test_config_names_the_bad_value() -> None:
    with pytest.raises(SuiteError, match="'tensorrt'"):
        SuiteConfig(runtimes=("tensorrt",))
    with pytest.raises(SuiteError, match="threads"):
        SuiteConfig(threads=0)
    with pytest.raises(SuiteError, match="unknown device 'tpu'"):
        SuiteConfig(devices=("cpu", "tpu"))
    SuiteConfig(devices=("cpu", "cuda:1", "mps"))  # known but maybe absent: recorded as skipped


@pytest.mark.skipif(not NO_CUDA, reason="checks the records of a machine without CUDA")
def test_inference_on_an_absent_device_is_skipped_per_size(checkpoint: Path) -> None:
    out = measure_inference("onnxruntime", "cuda", [1, 10], Artifacts(checkpoint), 1, TINY)
    assert [m.skip_reason for m in out] == ["cuda: no CUDA device"] * 2


def test_eager_inference_checks_parity_before_timing(checkpoint: Path) -> None:
    out = measure_inference("inference_mode", "cpu", [1, 100_000], Artifacts(checkpoint), 1, TINY,
                            floors_bytes_per_s={"100000": 1e10})
    for m in out:
        assert m.parity is not None and m.parity.passed and m.parity.max_ulp == 0
        assert m.times_s
    assert "bandwidth_efficiency" in out[1].extra and "bytes_moved" not in out[0].extra


def test_missing_artifact_is_a_skip_with_the_reason(checkpoint: Path) -> None:
    out = measure_inference("torchscript", "cpu", [1], Artifacts(checkpoint), 1, TINY)
    assert out[0].skipped and "torchscript" in out[0].skip_reason


def test_names_given_twice_are_measured_once_in_first_order() -> None:
    config = SuiteConfig(devices=("cpu", "cuda", "cpu"), runtimes=("eager", "onnxruntime", "eager"),
                         variants=("fused", "fused"), batch_sizes=(10, 1, 10), train_sizes=(40, 40))
    assert config.devices == ("cpu", "cuda")
    assert config.runtimes == ("eager", "onnxruntime")
    assert config.variants == ("fused",)
    assert config.batch_sizes == (10, 1) and config.train_sizes == (40,)
    assert count_measurements(config) == count_measurements(
        SuiteConfig(devices=("cpu", "cuda"), runtimes=("eager", "onnxruntime"), variants=("fused",),
                    batch_sizes=(10, 1), train_sizes=(40,)))


def test_a_worker_past_its_timeout_is_killed_with_the_reason() -> None:
    from bench.worker import WorkerTimeout

    with pytest.raises(WorkerTimeout, match=r"worker timed out after 0.5 s"):
        run_worker(training_job(), lambda m: None, timeout_s=0.5)  # still importing torch
    with pytest.raises(SuiteError, match="worker_timeout_s"):
        SuiteConfig(worker_timeout_s=0)


def test_device_hooks_sync_mps_and_leave_the_cpu_alone() -> None:
    from bench.engine.devices import device_context, device_sync

    assert device_sync("cpu") is None
    assert device_sync("mps") is torch.mps.synchronize
    with device_context("cpu"):
        pass


def test_fingerprint_names_only_the_gpus_used() -> None:
    from bench.store.fingerprint import gpu_names

    assert gpu_names(["cpu"]) == {}
    if NO_CUDA:
        assert gpu_names(["cpu", "cuda:1"]) == {}
    else:
        names = gpu_names(["cpu", "cuda"])
        assert list(names) == ["cuda"] and names["cuda"] == torch.cuda.get_device_name(0)


def test_probe_lines_report_what_was_measured_without_a_cause() -> None:
    from bench.pipeline import interference_lines

    probe = {"batch": 100_000, "threads": 1, "slowdown_spinning": 1.5, "slowdown_no_spin": 1.4,
             "slowdown_numpy_control": 1.1, "threads2_batch": 100_000, "threads2_threads": 2,
             "threads2_slowdown_spinning": 2.0, "threads2_slowdown_no_spin": 2.1,
             "threads2_slowdown_numpy_control": 1.0, "isolation": "none"}
    lines = interference_lines(probe)
    assert lines == [
        "bench: eager torch after an ORT run in the same process: 1.50x (spin off: 1.40x; "
        "numpy control 1.10x) at batch 100000, 1 thread(s)",
        "bench: eager torch after an ORT run in the same process: 2.00x (spin off: 2.10x; "
        "numpy control 1.00x) at batch 100000, 2 thread(s)",
    ]
    for isolation in ("runtime", "fork"):  # either way a worker process of its own
        assert interference_lines({**probe, "isolation": isolation})[-1] == "bench: ORT runs in its own worker"
    assert "skipped" in interference_lines({"skipped": "onnxruntime not in --runtimes"})[0]
    noisy = interference_lines({**probe, "slowdown_spinning": 1166.0, "slowdown_numpy_control": 785.0})
    assert noisy[0].endswith("UNSTABLE: the numpy control moved too, so this is host noise, not a finding")


def test_forked_worker_round_trip_failure_and_timeout() -> None:
    """isolation "fork": the worker protocol, the allocator settings and the failures of
    run_worker, from a worker forked off the preloaded server (bench/forked.py)."""
    from bench.forked import run_forked
    from bench.worker import WorkerTimeout

    got: list[Measurement] = []
    final = run_forked(training_job(), got.append)
    assert final["done"] is True and [m.spec.label for m in got] == ["train_epoch/eager/cpu/40"]
    assert final["process"]["allocator"] == ALLOCATOR_ENV and final["process"]["torch_threads"] == 1
    assert final["process"]["pid"] != os.getpid()
    with pytest.raises(RuntimeError, match="worker for floors|nonsense"):
        run_forked({"task": "nonsense"}, lambda m: None)
    with pytest.raises(WorkerTimeout, match=r"worker timed out after 0.01 s"):
        run_forked(training_job(), lambda m: None, timeout_s=0.01)
    assert run_forked(training_job(), lambda m: None)["done"] is True  # the server lives on


def test_isolation_fork_needs_a_forkserver(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    assert SuiteConfig().isolation == SuiteConfig.quick().isolation == "fork"  # Linux has one
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert SuiteConfig().isolation == SuiteConfig.quick().isolation == "runtime"  # fresh workers then
    with pytest.raises(SuiteError, match="forkserver"):
        SuiteConfig(isolation="fork")
