"""Exports checked against each format's documented shape, and read back by the real consumers."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.compare import compare_paths, load_bench_file
from bench.compare.gate import MedianGate
from tests.history_synthetic import make_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("h") / "store", runs=9, measurements=6, machines=3, samples=12)


def export(store: Path, fmt: str, out: Path, *extra: str) -> object:
    assert main(["history", str(store), "--export", fmt, "-o", str(out), *extra]) == 0
    return json.loads(out.read_text())


def number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def test_github_action_benchmark_custom_smaller_is_better(store: Path, tmp_path: Path) -> None:
    # src/extract.ts: interface BenchmarkResult {name: string; value: number; range?: string;
    # unit: string; extra?: string}; customSmallerIsBetter reads a JSON array of them.
    doc = export(store, "github-action-benchmark", tmp_path / "gab.json")
    assert isinstance(doc, list) and len(doc) == 3 * 6
    for entry in doc:
        assert set(entry) <= {"name", "value", "range", "unit", "extra"}
        assert isinstance(entry["name"], str) and isinstance(entry["unit"], str) and number(entry["value"])
        assert isinstance(entry["range"], str) and entry["range"].startswith("± ")
        assert isinstance(entry["extra"], str) and "commit: " in entry["extra"]
    assert len({e["name"] for e in doc}) == len(doc)
    assert "inference/eager/cpu/1 [cpu-box]" in {e["name"] for e in doc}


def test_bencher_metric_format(store: Path, tmp_path: Path) -> None:
    # bencher.dev BMF JSON schema: object of benchmark name -> object of measure -> {value (required),
    # lower_value, upper_value: numbers}; latency is in nanoseconds; names at most 1024 characters.
    doc = export(store, "bmf", tmp_path / "bmf.json", "--machine", "laptop")
    assert isinstance(doc, dict) and len(doc) == 6
    for name, measures in doc.items():
        assert 0 < len(name) <= 1024 and name.endswith("[laptop]")
        assert list(measures) == ["latency"]
        metric = measures["latency"]
        assert set(metric) <= {"value", "lower_value", "upper_value"} and "value" in metric
        assert all(number(v) for v in metric.values())
        assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]
        assert 100 < metric["value"] < 1e9  # ns: microseconds to a second here


def test_pytest_benchmark_is_read_by_pytest_benchmark_and_compare(
        store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pb.json"
    doc = export(store, "pytest-benchmark", out, "--machine", "cpu-box")
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    for b in doc["benchmarks"]:
        assert {"group", "name", "fullname", "params", "param", "extra_info", "options", "stats"} <= set(b)
        assert {"min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
                "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total", "data",
                "iterations"} <= set(b["stats"])
        assert b["stats"]["rounds"] == len(b["stats"]["data"]) == 12
    # pytest-benchmark's own reader: `pytest-benchmark compare FILE` renders its table from it
    from pytest_benchmark.cli import main as pytest_benchmark_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["pytest-benchmark", "compare", str(out)])
    capsys.readouterr()
    pytest_benchmark_main()
    shown = capsys.readouterr()
    assert "inference/eager/cpu/1" in shown.out and "Failed to load" not in shown.err + shown.out
    # linreg-bench compare matches it, measurement by measurement, with the stored run
    newest = sorted((store / "cpu-box").glob("2026*.json"))[-1]
    comparison = compare_paths(newest, out, MedianGate())
    assert {r.verdict for r in comparison.rows} == {"unchanged"}
    assert all(math.isclose(r.stats.ratio, 1.0) for r in comparison.rows)
    assert load_bench_file(out).revision == json.loads(newest.read_text())["environment"]["git"]["commit"]


def test_export_bad_input(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", str(store), "--export", "pytest-benchmark", "-o", str(tmp_path / "x")]) == 2
    assert main(["history", str(store), "--export", "bmf", "--regressions"]) == 2  # both on stdout
    assert main(["history", str(store), "--export", "bmf", "-o", str(tmp_path / "x"),
                 "--machine", "nope"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "give --machine" in err[0] and not (tmp_path / "x").exists()


@pytest.mark.parametrize("output", [["-o", "-"], []])
def test_export_to_stdout_is_the_document_alone(store: Path, tmp_path: Path, output: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """-o - (or no -o) writes the export to stdout, as the field's tools do; the summary goes to
    stderr, so `history DIR --export bmf | jq` reads JSON."""
    assert main(["history", str(store), "--export", "bmf", *output]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == export(store, "bmf", tmp_path / "bmf.json")
    assert "history: " in captured.err and not Path("-").exists()
