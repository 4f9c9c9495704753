"""results.json / results.csv: the golden v1 file round-trips, the CSV has its columns, bad files fail cleanly."""
from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path

import pytest

from bench.engine.measurement import Measurement, Parity, Spec
from bench.store.results import (
    CSV_COLUMNS, ResultsError, build_results, load_results, measurements_of, write_results,
)
from bench.store.schema import SCHEMA_VERSION
from linreg.errors import LinregError

GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"
V1_RENAMED = {"p05_s": "block_p05_s", "p95_s": "block_p95_s"}  # schema v2's names for them
RAW_KEYS = ("phase", "runtime", "device", "batch_size", "times_s", "calls_per_sample",
            "parity", "warnings", "skip_reason")


def sample_measurements() -> list[Measurement]:
    exact = Parity(0.0, 0, True, "bit-exact")
    return [
        Measurement(Spec("inference", "eager", "cpu", 1, threads=2), (7.2e-6, 7.0e-6, 7.1e-6), 100, exact,
                    extra={"minor_faults_per_call": 0.0}),
        Measurement(Spec("inference", "onnxruntime", "cpu", 10**7), (8.1e-3, 8.3e-3, 8.0e-3), 1,
                    Parity(1.2e-7, 2, False, "bit-exact"), warnings=("IQR/median 12% > 10%", "few samples"),
                    extra={"bytes_per_s": 9.9e9, "bandwidth_efficiency": 0.38, "provider": "CPUExecutionProvider"}),
        Measurement(Spec("train_epoch", "compile", "cpu", 40), (6.1e-5, 6.0e-5), 10, exact,
                    extra={"compile_s": 19.5}),
        Measurement(Spec("inference", "eager", "cuda", 1), skip_reason="no CUDA device"),
    ]


ENV = {"cpu_model": "test CPU", "cpu_count": 2, "versions": {"torch": "2.13.0"}, "git": None}
FLOORS = {"empty_call_s": 2.5e-8, "timer_overhead_s": 5e-8, "memory_bandwidth_bytes_per_s": 2.6e10}


def test_golden_v1_round_trips() -> None:
    stored = json.loads(GOLDEN.read_text())
    results = load_results(GOLDEN)
    assert results["schema_version"] == 1
    records = measurements_of(results)
    assert len(records) == len(stored["measurements"]) > 0
    for record, v1_entry in zip(records, stored["measurements"]):
        again = record.to_dict()
        entry = {V1_RENAMED.get(k, k): v for k, v in v1_entry.items()}
        for key in RAW_KEYS:
            assert again.get(key) == entry.get(key), (record.spec.label, key)
        # Derived statistics are recomputed from the samples and agree with the stored ones.
        assert again.keys() == entry.keys(), record.spec.label
        for key, value in entry.items():
            if isinstance(value, float):
                assert math.isclose(again[key], value, rel_tol=1e-12), (record.spec.label, key)
            else:
                assert again[key] == value, (record.spec.label, key)


def test_golden_v1_covers_the_runtimes_and_skips() -> None:
    entries = load_results(GOLDEN)["measurements"]
    inference = {e["runtime"] for e in entries if e["phase"] == "inference" and "times_s" in e}
    train = {e["runtime"] for e in entries if e["phase"] == "train_epoch" and "times_s" in e}
    # The names the runtime and training registries (bench/runtimes, bench/training) write.
    assert inference == {"eager", "inference_mode", "torchscript", "exported_program", "onnxruntime",
                         "torch_compile"}
    assert train == {"eager", "fused", "torch_compile"}
    assert any(e.get("skip_reason") == "cuda: no CUDA device" and e["device"] == "cuda" for e in entries)


def test_build_results_has_the_schema_keys_and_summary() -> None:
    results = build_results(ENV, {"quick": True}, FLOORS, sample_measurements())
    assert list(results) == ["schema_version", "created_utc", "run_id", "environment", "config",
                             "floors", "measurements", "summary"]
    assert results["run_id"] != build_results(ENV, {}, FLOORS, [])["run_id"]  # one per run
    assert build_results(ENV, {}, FLOORS, [], run_id="abc")["run_id"] == "abc"  # a rewrite keeps it
    assert results["schema_version"] == SCHEMA_VERSION
    assert results["created_utc"].endswith("Z")
    assert results["summary"] == {"total": 4, "measured": 3, "skipped": 1, "parity_failed": 1, "warned": 1}
    assert results["measurements"][3] == {"phase": "inference", "runtime": "eager", "device": "cuda",
                                          "batch_size": 1, "skip_reason": "no CUDA device",
                                          "parity": None, "warnings": []}


def test_non_finite_floats_become_null() -> None:
    m = Measurement(Spec("inference", "eager", "cpu", 1), (1e-6,), extra={"bandwidth_efficiency": math.nan})
    results = build_results(ENV, {}, {"memory_bandwidth_bytes_per_s": math.inf}, [m])
    assert results["measurements"][0]["bandwidth_efficiency"] is None
    assert results["floors"]["memory_bandwidth_bytes_per_s"] is None
    json.dumps(results, allow_nan=False)


def test_write_results_writes_json_and_csv(tmp_path: Path) -> None:
    path = write_results(tmp_path / "out", ENV, {"quick": True}, FLOORS, sample_measurements())
    assert path == tmp_path / "out" / "results.json"
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.csv", "results.json"]  # no temp files left
    loaded = load_results(path)
    assert [m.spec for m in measurements_of(loaded)] == [m.spec for m in sample_measurements()]

    with (path.parent / "results.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert len(rows) == 4
    eager, ort, compiled, skipped = rows
    assert eager["median_s"] == repr(7.1e-6) and eager["n_samples"] == "3" and eager["calls_per_sample"] == "100"
    assert eager["parity_passed"] == "true" and eager["max_ulp"] == "0" and eager["skip_reason"] == ""
    assert ort["parity_passed"] == "false" and ort["max_abs_error"] == repr(1.2e-7)
    assert ort["warnings"] == "IQR/median 12% > 10%; few samples"
    assert ort["bandwidth_efficiency"] == "0.38" and ort["bytes_per_s"] == repr(9.9e9)
    assert compiled["compile_s"] == "19.5" and compiled["phase"] == "train_epoch"
    assert skipped["skip_reason"] == "no CUDA device"
    assert skipped["median_s"] == skipped["parity_passed"] == skipped["n_samples"] == ""


def test_load_results_accepts_a_run_folder(tmp_path: Path) -> None:
    write_results(tmp_path, ENV, {}, FLOORS, sample_measurements())
    assert len(load_results(tmp_path)["measurements"]) == 4


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bad_results.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _mutated(mutate) -> dict:
    data = copy.deepcopy(_golden())
    mutate(data)
    return data


@pytest.mark.parametrize("content, expected", [
    ('{"schema_version": 1,\n "measurements": [,]}', "invalid JSON at line 2"),
    ("[1, 2]", "not a results file"),
    ({"created_utc": "x"}, "missing key 'schema_version'"),
    (_mutated(lambda d: d.update(schema_version=99)), "unknown schema version 99"),
    (_mutated(lambda d: d.update(schema_version="1")), "unknown schema version '1'"),
    (_mutated(lambda d: d.pop("floors")), "missing key 'floors'"),
    (_mutated(lambda d: d.update(measurements={})), "'measurements' must be a list"),
    (_mutated(lambda d: d["measurements"][2].pop("runtime")), "measurements[2] is missing key 'runtime'"),
    (_mutated(lambda d: d["measurements"][0].pop("times_s")), "measurements[0] is missing key 'times_s'"),
    (_mutated(lambda d: d["measurements"][1].update(times_s=[])), "times_s must be a non-empty list"),
    (_mutated(lambda d: d["measurements"][1].update(phase="warmup")), "phase must be one of"),
    (_mutated(lambda d: d["measurements"][1].update(batch_size=0)), "batch_size must be an integer >= 1"),
    (_mutated(lambda d: d["measurements"][1].update(parity={"passed": True})), "parity must be null"),
], ids=["invalid-json", "not-object", "no-version", "unknown-version", "string-version", "no-floors",
        "measurements-not-list", "entry-missing-key", "no-times", "empty-times", "bad-phase", "bad-size",
        "bad-parity"])
def test_load_results_rejects_bad_files(tmp_path: Path, content: object, expected: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ResultsError) as err:
        load_results(path)
    message = str(err.value)
    assert isinstance(err.value, LinregError)
    assert str(path) in message and expected in message, message
    assert "\n" not in message


def test_load_results_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"nowhere\.json: no such results file"):
        load_results(tmp_path / "nowhere.json")
    with pytest.raises(ResultsError, match="a folder without results.json"):
        load_results(tmp_path)


def test_cli_style_error_is_one_line(tmp_path: Path) -> None:
    """What bench/cli.py prints: `error: <message>`, no traceback."""
    path = _write(tmp_path, "{")
    with pytest.raises(LinregError) as err:
        load_results(path)
    assert f"error: {err.value}".count("\n") == 0
    assert err.value.exit_code == 2
