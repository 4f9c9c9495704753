"""Server --find-peak search, the latency pictures, report sections, compare's memory changes."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.report.latency_plots import plot_peak_curve, write_latency_plots
from bench.report.markdown import render_report
from bench.scenarios.peak import search_peak
from bench.scenarios.settings import LoadgenConfig


def fake_probe(capacity: float, calls: list[float]) -> Any:
    """VALID up to `capacity` QPS; p99 grows as the load nears it."""
    def probe(config: LoadgenConfig, out: Path) -> dict[str, Any]:
        calls.append(config.target_qps)
        load = config.target_qps / capacity
        p99 = 1e-5 / max(1e-3, 1 - min(load, 0.999))
        return {"valid": load <= 1, "latency_s": {"p50": 1e-5, "p99": p99, "p999": 2 * p99}, "qps": config.target_qps}
    return probe


@pytest.mark.parametrize("start", [100.0, 50_000.0])
def test_peak_search_brackets_the_capacity(start: float, tmp_path: Path) -> None:
    calls: list[float] = []
    config = LoadgenConfig("server", "eager", target_qps=start, latency_bound_ms=1.0)
    peak = search_peak(config, tmp_path, fake_probe(3000.0, calls), start, precision=0.05)
    assert 3000 / 1.05 <= peak["peak_qps"] <= 3000 < peak["first_invalid_qps"] <= 3000 * 1.05
    assert [p["offered_qps"] for p in peak["curve"]] == sorted(calls)
    assert peak["best"]["valid"] and len(calls) <= 12


def test_peak_search_reports_none_when_nothing_is_valid(tmp_path: Path) -> None:
    config = LoadgenConfig("server", "eager", target_qps=1000.0, latency_bound_ms=1.0)
    peak = search_peak(config, tmp_path, fake_probe(1e-9, []), 1000.0)
    assert peak["peak_qps"] is None and peak["best"] is None and peak["probes"] <= 12


def test_pictures_are_written(tmp_path: Path) -> None:
    calls: list[float] = []
    config = LoadgenConfig("server", "eager", target_qps=500.0, latency_bound_ms=1.0)
    peak = search_peak(config, tmp_path, fake_probe(3000.0, calls), 500.0)
    assert plot_peak_curve(peak["curve"], 1e-3, tmp_path / "peak.png").stat().st_size > 0
    entries = [latency_entry("eager", b, 1e-6 * b ** 0.5) for b in (1, 1000)]
    written = write_latency_plots({"measurements": entries}, tmp_path)
    assert sorted(p.name for p in written) == ["latency_cdf.png", "latency_percentiles.png"]


def latency_entry(runtime: str, batch: int, p50: float, rss: int = 10 << 20) -> dict[str, Any]:
    return {"phase": "inference", "runtime": runtime, "device": "cpu", "batch_size": batch,
            "times_s": [p50] * 5, "parity": None, "warnings": [],
            "latency_s": {"p50": p50, "p90": 1.1 * p50, "p99": 2 * p50, "p999": 5 * p50, "max": 9 * p50,
                          "n": 20_000, "clock_overhead_s": 5e-8},
            "latency_cdf_s": {"q": [0.5, 0.99], "s": [p50, 2 * p50]}, "latency_unreliable": [],
            "memory": {"rss_peak_above_baseline_bytes": rss, "rss_baseline_bytes": 200 << 20,
                       "rss_peak_scope": "measurement"}}


def test_report_shows_latency_memory_and_the_loadgen_pass() -> None:
    results = {"schema_version": 2, "measurements": [latency_entry("onnxruntime", 1, 6e-6)],
               "loadgen": {"duration_s": 2.0, "runs": [
                   {"runtime": "onnxruntime", "valid": True, "latency_s": {"p50": 1e-5, "p99": 2e-5},
                    "qps": 60_000.0, "accuracy": {"checked": 500, "mismatches": 0}, "reasons": []}]}}
    text = render_report(results)
    assert "## Inference: per-request latency and memory" in text and "10 MiB" in text
    assert "| onnxruntime | VALID |" in text and "500/500" in text
    skipped = render_report({**results, "loadgen": {"skipped": "skipped in --quick: too long"}})
    assert "Skipped: skipped in --quick: too long" in skipped


def results_doc(rss: int) -> dict[str, Any]:
    entry = latency_entry("eager", 1, 6e-6, rss)
    entry["times_s"] = [6e-6 * (1 + i / 1000) for i in range(20)]
    return {"schema_version": 2, "created_utc": "2026-01-01T00:00:00Z", "environment": {},
            "config": {}, "floors": {}, "measurements": [entry]}


def test_compare_lists_memory_and_gates_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    base.write_text(json.dumps(results_doc(10 << 20)))
    new.write_text(json.dumps(results_doc(30 << 20)))
    assert main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "inference/eager/cpu/1: RSS peak 10.0 MiB -> 30.0 MiB (3.00x)" in out
    assert main(["compare", str(base), str(new), "--fail-on-memory", "50%"]) == 1
    assert "MEMORY REGRESSION: inference/eager/cpu/1" in capsys.readouterr().err
    assert main(["compare", str(base), str(new), "--fail-on-memory", "250%"]) == 0
    assert main(["compare", str(base), str(new), "--fail-on-memory", "lots"]) == 2
    small = copy.deepcopy(results_doc(10 << 20))
    small["measurements"][0]["memory"]["rss_peak_above_baseline_bytes"] = (10 << 20) + 4096
    new.write_text(json.dumps(small))  # a page more is granularity, not a change
    capsys.readouterr()
    assert main(["compare", str(base), str(new), "--fail-on-memory", "0%", "--json"]) == 0
    assert "memory_changes" not in json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_run_pass_records_one_singlestream_result_per_runtime(exported: Path, tmp_path: Path) -> None:
    from bench.runtimes.base import Artifacts
    from bench.scenarios.run_pass import singlestream_pass

    lines: list[str] = []
    section = singlestream_pass(Artifacts.from_export_dir(exported), ["eager"], "cpu", 1, tmp_path, 0.3,
                                lines.append)
    (run,) = section["runs"]
    assert run["runtime"] == "eager" and run["accuracy"]["checked"] > 0 and run["latency_s"]["p50"] > 0
    assert (tmp_path / "loadgen" / "eager" / "mlperf_log_summary.txt").is_file()
    assert lines and lines[0].startswith("loadgen: single-stream eager:")
