"""One MLPerf LoadGen test of one runtime, in this process: calibrate, run, read the logs, check.

The order of a test:
  1. memory baseline, then the runtime loads (bench.scenarios.sut.load_runtime);
  2. a short calibration sizes LoadGen's expectations (expected latency / offline QPS);
  3. mlperf_loadgen.StartTestWithLogSettings in PerformanceOnly mode, logs into `out_dir`
     (mlperf_log_summary.txt, mlperf_log_detail.txt, mlperf_log_accuracy.json);
  4. accuracy during the timed run (MLPerf's TEST01 idea): LoadGen logs a sample of the
     responses it received (accuracy_log_sampling_target); each is compared with the state_dict
     model's prediction for the same sample, within the runtime's parity rule. A mismatch, or
     no response logged at all, makes the result invalid whatever the latency.
"""
from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.engine.timing import TimingConfig, time_each_call
from bench.engine.memory import MemoryTracker
from bench.scenarios.batcher import DynamicBatcher
from bench.scenarios.mlperf_logs import latency_of, qps_of, read_accuracy, read_detail
from bench.scenarios.settings import LoadgenConfig, test_settings
from bench.scenarios.sut import (RuntimeSUT, as_float32, is_compiled, load_runtime, parity_ulps_of,
                                 sample_inputs)

CALIBRATION = TimingConfig(warmup_calls=10, warmup_s=0.0)  # then up to 500 calls or 0.2 s
# Measured here: LoadGen with an empty Python SUT answers a single-stream query in ~0.8 us, and
# RuntimeSUT adds ~0.5 us beyond the runtime's call. LoadGen generates ~2x the queries that
# duration / expected latency predicts, ~400 bytes each, so expecting too fast costs memory and
# expecting too slow ends the run early (INVALID): the overhead is rounded up, not down.
QUERY_OVERHEAD_S = 3e-6
OFFLINE_PATH_QPS = 6_000_000.0   # above the offline response path's ceiling (2.0-3.4M samples/s here)
MAX_OFFLINE_SAMPLES = 8_000_000  # LoadGen holds every offline sample in memory (~190 MB per 1M)


def reference_outputs(checkpoint: Path, inputs: np.ndarray) -> np.ndarray:
    """The state_dict model's predictions on the CPU for every QSL sample (the accuracy truth)."""
    import torch

    from linreg.checkpoint import load_model

    model = load_model(checkpoint, "cpu")[1]
    with torch.no_grad():
        return as_float32(model(torch.from_numpy(inputs)))


def calibrate(runtime: Any, inputs: np.ndarray, config: LoadgenConfig) -> tuple[float, float]:
    """(expected seconds per query of the scenario, expected offline samples/s) for LoadGen.

    A multi-stream query runs as one batched call, so it is expected to take about one call of
    samples_per_query samples; the other scenarios' queries are of one sample.
    """
    import torch

    def median_s(bound: Any) -> float:
        return statistics.median(time_each_call(bound.output, 500, CALIBRATION, budget_s=0.2, min_calls=5).times_s)

    per_query = min(config.samples_per_query, len(inputs)) if config.scenario == "multi-stream" else 1
    call_s = median_s(runtime.bind(torch.from_numpy(inputs[:per_query])))
    batch = min(config.offline_batch, len(inputs))
    batch_s = median_s(runtime.bind(torch.from_numpy(inputs[:batch])))
    offline_qps = min(batch / max(batch_s, 1e-9), OFFLINE_PATH_QPS, MAX_OFFLINE_SAMPLES / config.duration_s)
    return call_s + QUERY_OVERHEAD_S, offline_qps


def check_accuracy(logged: list[tuple[int, np.ndarray]], reference: np.ndarray, ulps: int) -> dict[str, Any]:
    """The logged responses against the reference: counts, worst error, verdict."""
    from bench.engine.parity import compare_outputs

    tolerance = "bit-exact" if ulps == 0 else f"max_ulp <= {ulps}"
    bad_size = [i for i, v in logged if v.size != 1 or not 0 <= i < reference.size]
    good = [(i, v) for i, v in logged if v.size == 1 and 0 <= i < reference.size]
    err, ulp = (compare_outputs(reference[[i for i, _ in good]], np.concatenate([v for _, v in good]))
                if good else (float("nan"), 0))
    mismatches = len(bad_size)
    if good and ulp > ulps:
        got = np.concatenate([v for _, v in good])
        want = reference[[i for i, _ in good]]
        mismatches += int(np.count_nonzero(got.view(np.int32) != want.view(np.int32))) if ulps == 0 \
            else sum(compare_outputs(want[k:k + 1], got[k:k + 1])[1] > ulps for k in range(len(good)))
    return {"checked": len(logged), "mismatches": mismatches, "max_abs_error": err, "max_ulp": ulp,
            "tolerance": tolerance, "passed": bool(logged) and mismatches == 0,
            "reference": "state_dict eager model on the CPU, same samples"}


def _log_settings(out_dir: Path) -> Any:
    import mlperf_loadgen as lg

    output = lg.LogOutputSettings()
    output.outdir = str(out_dir)
    output.copy_summary_to_stdout = False
    settings = lg.LogSettings()
    settings.log_output = output
    settings.enable_trace = False  # the trace is large and slows the logger
    return settings


def start_test(sut: RuntimeSUT, config: LoadgenConfig, settings: Any, out_dir: Path) -> dict[str, Any]:
    """LoadGen's SUT and QSL around `sut`, one test, then both destroyed; the server's batch stats.

    Server queries are batched dynamically (bench.scenarios.batcher): with a worker, its thread is
    the one that calls the runtime; inline, each coalesced issue call runs as batches. The other
    scenarios' queries are answered inside LoadGen's issue callback.
    """
    import mlperf_loadgen as lg

    batcher = None
    if config.scenario == "server" and config.server_batching == "worker":
        batcher = DynamicBatcher(sut.run_queries, config.server_max_batch, sut.answer_empty)
        handle = lg.ConstructFastSUT(batcher.issue, batcher.flush)
    elif config.scenario == "server":
        handle = lg.ConstructFastSUT(sut.run_queries, sut.flush_queries)
    else:
        handle = lg.ConstructFastSUT(sut.issue_fast, sut.flush_queries)
    qsl = lg.ConstructQSL(config.sample_count, config.sample_count, sut.load_samples, sut.unload_samples)
    try:
        lg.StartTestWithLogSettings(handle, qsl, settings, _log_settings(out_dir))
    finally:
        if batcher is not None:
            batcher.close()
            sut.failure = sut.failure or batcher.failure
        lg.DestroyQSL(qsl)
        lg.DestroySUT(handle)
    if config.scenario != "server":
        return {}
    return {"server_batches": {"mode": config.server_batching, "max_batch": config.server_max_batch,
                               **sut.batch_stats()}}


def run_test(config: LoadgenConfig, artifacts: Any, out_dir: Path) -> dict[str, Any]:
    """Run one LoadGen test; the loadgen.json body (without fingerprint), never raising for the runtime."""
    import mlperf_loadgen as lg

    out_dir.mkdir(parents=True, exist_ok=True)
    memory = MemoryTracker(config.device)  # baseline: before the runtime loads
    try:  # a runtime that is unknown, cannot load or cannot run is a failed result
        if is_compiled(config.runtime):  # every bind compiles (seconds): one sample, bound once
            config = replace(config, sample_count=1, offline_batch=1, samples_per_query=1, server_max_batch=1)
        inputs = sample_inputs(config.sample_count)
        reference = reference_outputs(artifacts.checkpoint, inputs)
        runtime = load_runtime(config.runtime, artifacts, config.device, config.threads)
        expected_latency_s, expected_qps = calibrate(runtime, inputs, config)
    except Exception as exc:
        from linreg.errors import exception_line

        return failed_result(config, f"{type(exc).__name__}: {exception_line(exc, 200)}")
    batch = {"offline": config.offline_batch, "server": config.server_max_batch}.get(
        config.scenario, config.samples_per_query)
    sut = RuntimeSUT(runtime, inputs, batch, lg.QuerySamplesComplete, lg.QuerySampleResponse)
    settings = test_settings(config, expected_latency_s, expected_qps)
    memory.start()
    served = start_test(sut, config, settings, out_dir)
    result = summarize_test(config, out_dir, sut, reference, memory.record(),
                            {"expected_latency_s": expected_latency_s, "expected_qps": expected_qps})
    return {**result, **served}


def summarize_test(config: LoadgenConfig, out_dir: Path, sut: RuntimeSUT, reference: np.ndarray,
                   memory: dict[str, Any], calibration: dict[str, float]) -> dict[str, Any]:
    """The verdict from LoadGen's logs and the accuracy check."""
    detail = read_detail(out_dir / "mlperf_log_detail.txt")
    accuracy = check_accuracy(read_accuracy(out_dir / "mlperf_log_accuracy.json"), reference,
                              parity_ulps_of(config.runtime, config.device))
    loadgen_valid = detail.get("result_validity") == "VALID"
    reasons = []
    if not loadgen_valid:
        reasons.append(f"LoadGen: {str(detail.get('result_invalid_reason') or 'INVALID').strip()}")
    if sut.failure:
        reasons.append(f"runtime failed: {sut.failure}")
    elif not accuracy["passed"]:
        reasons.append(f"accuracy: {accuracy['mismatches']} of {accuracy['checked']} logged responses "
                       f"differ from the state_dict model ({accuracy['tolerance']})")
    return {
        "scenario": config.scenario, "runtime": config.runtime, "device": config.device,
        "valid": loadgen_valid and accuracy["passed"] and not sut.failure,
        "loadgen_valid": loadgen_valid, "failed": sut.failure, "reasons": reasons,
        "latency_s": latency_of(detail), "qps": qps_of(detail),
        "query_count": detail.get("result_query_count"), "accuracy": accuracy, "memory": memory,
        "settings": {**config.to_json(), **calibration,
                     **{k: v for k, v in detail.items() if k.startswith("effective_")}},
        "loadgen": {"version": detail.get("loadgen_version"), "errors": detail["errors"],
                    "warnings": detail["warnings"]},
    }


def failed_result(config: LoadgenConfig, reason: str) -> dict[str, Any]:
    """The record of a test whose runtime crashed before or outside LoadGen's callbacks."""
    return {"scenario": config.scenario, "runtime": config.runtime, "device": config.device,
            "valid": False, "loadgen_valid": None, "failed": reason,
            "reasons": [f"runtime failed: {reason}"], "latency_s": None, "qps": None,
            "settings": config.to_json()}
