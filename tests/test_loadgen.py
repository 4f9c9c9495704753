"""`linreg-bench loadgen`: LoadGen driven end to end in every scenario, the accuracy check, bad input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.runtimes.base import Artifacts
from bench.scenarios import sut as sut_module
from bench.scenarios.command import report
from bench.scenarios.loadgen import run_test
from bench.scenarios.mlperf_logs import read_accuracy, read_detail
from bench.scenarios.runner import run_child
from bench.scenarios.settings import LoadgenConfig

pytest.importorskip("mlperf_loadgen")

# A few hundred queries each: short durations, small minimum counts (LoadGen's own rules apply).
SHORT = {"single-stream": dict(duration_s=0.2, min_query_count=200),
         "multi-stream": dict(duration_s=0.2, min_query_count=200),
         "server": dict(duration_s=0.4, min_query_count=200, target_qps=600.0, latency_bound_ms=100.0),
         "offline": dict(duration_s=0.2, min_query_count=1)}


@pytest.mark.parametrize("scenario", list(SHORT))
def test_every_scenario_runs_under_loadgen_with_accuracy_checked(scenario: str, exported: Path,
                                                                 tmp_path: Path) -> None:
    config = LoadgenConfig(scenario, "onnxruntime", sample_count=256, accuracy_samples=200, **SHORT[scenario])
    result = run_test(config, Artifacts.from_export_dir(exported), tmp_path)
    detail = read_detail(tmp_path / "mlperf_log_detail.txt")
    assert detail["result_validity"] in ("VALID", "INVALID")  # LoadGen's verdict, read from its log
    assert result["loadgen_valid"] == (detail["result_validity"] == "VALID")
    assert (tmp_path / "mlperf_log_summary.txt").is_file()
    assert result["accuracy"]["checked"] > 0 and result["accuracy"]["passed"], result["accuracy"]
    assert result["accuracy"]["mismatches"] == 0 and result["failed"] is None
    assert detail["result_query_count"] >= (1 if scenario == "offline" else 200)
    lat = result["latency_s"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert result["qps"] > 0 and result["memory"]["rss_peak_above_baseline_bytes"] >= 0
    if scenario == "server":  # batched dynamically: every sample went through a batch
        assert result["server_batches"]["samples"] == detail["result_query_count"]


def test_server_batched_by_a_worker_thread(exported: Path, tmp_path: Path) -> None:
    config = LoadgenConfig("server", "onnxruntime", sample_count=256, accuracy_samples=200,
                           server_batching="worker", **SHORT["server"])
    assert LoadgenConfig("server", "onnxruntime", **SHORT["server"]).server_batching == "inline"  # default
    result = run_test(config, Artifacts.from_export_dir(exported), tmp_path)
    assert result["accuracy"]["passed"] and result["failed"] is None, result["accuracy"]
    assert result["server_batches"]["mode"] == "worker"
    assert result["server_batches"]["samples"] == read_detail(tmp_path / "mlperf_log_detail.txt")["result_query_count"]


class WrongRuntime:
    """Wraps a real runtime; every output is off by 1e-3 (a runtime that computes something else)."""

    def __init__(self, inner: Any, fail_after: int | None = None) -> None:
        self.inner, self.fail_after, self.calls = inner, fail_after, 0

    def bind(self, x: Any) -> Any:
        bound = self.inner.bind(x)
        output, call = bound.output, bound.call

        def count() -> None:
            self.calls += 1
            if self.fail_after is not None and self.calls > self.fail_after:
                raise RuntimeError("device lost")

        def wrong() -> Any:
            count()
            return output() + 1e-3

        def wrong_in_place() -> None:  # ORT on the CPU: the SUT answers from host_output
            count()
            call()
            bound.host_output += 1e-3

        bound.output, bound.call = wrong, wrong_in_place
        return bound


def _patched(monkeypatch: pytest.MonkeyPatch, fail_after: int | None) -> None:
    real = sut_module.load_runtime
    monkeypatch.setattr("bench.scenarios.loadgen.load_runtime",
                        lambda *a: WrongRuntime(real(*a), fail_after))


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime"])  # output copied; answered in place
def test_wrong_answers_make_the_result_invalid(runtime: str, exported: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _patched(monkeypatch, None)
    config = LoadgenConfig("single-stream", runtime, sample_count=64, accuracy_samples=100, **SHORT["single-stream"])
    result = run_test(config, Artifacts.from_export_dir(exported), tmp_path)
    assert result["valid"] is False and result["accuracy"]["mismatches"] > 0
    assert any(r.startswith("accuracy:") for r in result["reasons"])
    logged = read_accuracy(tmp_path / "mlperf_log_accuracy.json")
    assert logged and all(values.size == 1 for _, values in logged)


def test_a_runtime_crashing_mid_test_is_recorded_as_failed(exported: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _patched(monkeypatch, 500)  # calibration uses some calls; the crash lands inside the timed run
    config = LoadgenConfig("single-stream", "eager", sample_count=64, **SHORT["single-stream"])
    result = run_test(config, Artifacts.from_export_dir(exported), tmp_path)
    assert result["valid"] is False and "RuntimeError: device lost" in result["failed"]
    assert report(result, tmp_path) == 1


def test_a_dead_test_process_is_a_failed_record(exported: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.scenarios.runner.sys.executable", "/bin/false")
    result = run_child(LoadgenConfig("offline", "eager"), Artifacts.from_export_dir(exported), tmp_path, 3.0)
    assert result["valid"] is False and "exit code 1" in result["failed"]
    assert result["limits"] == {"time_s": 120.0 + 4 * 10.0, "memory_gib": 3.0}  # recorded either way


def test_cli_writes_loadgen_json_and_the_logs(exported: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lg"
    code = main(["loadgen", "--export-dir", str(exported), "--runtime", "eager", "--scenario",
                 "single-stream", "--duration-s", "0.3", "--out", str(out)])
    doc = json.loads((out / "loadgen.json").read_text())
    assert code == (0 if doc["valid"] else 1)
    assert {"scenario", "runtime", "valid", "latency_s", "qps", "settings", "fingerprint"} <= set(doc)
    assert set(doc["latency_s"]) == {"p50", "p90", "p99", "p999", "max"}
    assert doc["fingerprint"]["versions"]["mlcommons-loadgen"]
    assert doc["limits"]["memory_gib"] > 0 and doc["limits"]["time_s"] > 0  # the child's bounds
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"):
        assert (out / name).is_file()
    assert "loadgen single-stream eager:" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["--scenario", "warp"], "invalid choice: 'warp'"),
    (["--runtime", "tensorrt"], "unknown runtime 'tensorrt'"),
    (["--target-qps", "0"], "must be > 0"),
    (["--target-qps", "-5"], "must be > 0"),
    (["--latency-bound-ms", "nan"], "not a finite number"),
    (["--duration-s", "inf"], "not a finite number"),
    (["--duration-s", "ten"], "not a number"),
    (["--export-dir", "/nonexistent/export"], "does not exist"),
    (["--scenario", "offline", "--find-peak"], "--find-peak needs --scenario server"),
    (["--scenario", "server"], "needs --target-qps"),
])
def test_bad_input_is_one_error_line_exit_2_nothing_written(
        args: list[str], needle: str, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"--export-dir": str(exported), "--runtime": "eager", "--scenario": "single-stream",
            "--out": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["loadgen"] + [x for kv in base.items() for x in kv] + [a for a in args if a == "--find-peak"]
    argv = [a for a in argv if a != "--find-peak"] + (["--find-peak"] if "--find-peak" in args else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "out").exists()


def test_settings_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="target_qps"):
        LoadgenConfig("server", "eager", target_qps=float("nan"), latency_bound_ms=1.0)
    with pytest.raises(ValueError, match="latency_bound_ms"):
        LoadgenConfig("server", "eager", target_qps=10.0)
    with pytest.raises(ValueError, match="unknown scenario"):
        LoadgenConfig("burst", "eager")


def test_the_recorded_settings_are_the_scenarios_own() -> None:
    """loadgen.json's settings: a single-stream run sent 1 sample a query and recorded 8."""
    single = LoadgenConfig("single-stream", "eager").to_json()
    assert "samples_per_query" not in single and "offline_batch" not in single and "server_batching" not in single
    assert LoadgenConfig("multi-stream", "eager").to_json()["samples_per_query"] == 8
    server = LoadgenConfig("server", "eager", target_qps=10.0, latency_bound_ms=1.0).to_json()
    assert server["server_batching"] == "inline" and "samples_per_query" not in server
