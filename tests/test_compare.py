"""`linreg-bench compare` on synthetic samples: the gate fails on a real slowdown and ignores noise.

No timings are measured here: every sample is drawn from a seeded generator, so the verdicts are
deterministic.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main

SPECS = [
    ("train_epoch", "eager", "cpu", 40, 160e-6),
    ("train_epoch", "eager", "cpu", 1_000_000, 5e-3),
    ("inference", "eager", "cpu", 1, 7e-6),
    ("inference", "onnxruntime", "cpu", 1, 6e-6),
]
ENV = {"cpu_model": "AMD EPYC", "cpu_count": 2, "versions": {"torch": "2.13.0", "onnxruntime": "1.32.0"},
       "threads": {"torch": 1}, "allocator": {"MALLOC_MMAP_THRESHOLD_": "268435456"}}


def results_doc(seed: int = 0, scale: dict[str, float] | None = None, n: int = 20) -> dict:
    """A schema v1 results document: lognormal samples with ~1% spread around each median."""
    rng = np.random.default_rng(seed)
    scale = scale or {}
    entries = []
    for phase, runtime, device, batch, median in SPECS:
        label = f"{phase}/{runtime}/{device}/{batch}"
        times = median * scale.get(label, 1.0) * rng.lognormal(0.0, 0.01, n)
        entries.append({"phase": phase, "runtime": runtime, "device": device, "batch_size": batch,
                        "times_s": times.tolist(), "calls_per_sample": 1,
                        "parity": {"max_abs_error": 0.0, "max_ulp": 0, "passed": True,
                                   "tolerance": "bit-exact"},
                        "warnings": []})
    return {"schema_version": 1, "created_utc": "2026-01-01T00:00:00Z", "environment": copy.deepcopy(ENV),
            "config": {}, "floors": {}, "measurements": entries}


def pytest_doc(seed: int = 0, scale: dict[str, float] | None = None, keep_data: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    scale = scale or {}
    benches = []
    for phase, runtime, device, batch, median in SPECS:
        name = f"test_{phase}[{runtime}-{batch}]"
        data = (median * scale.get(name, 1.0) * rng.lognormal(0.0, 0.01, 50)).tolist()
        benches.append({"name": name, "fullname": f"tests/benchmarks/x.py::{name}", "extra_info": {},
                        "stats": {"median": float(np.median(data)), "data": data if keep_data else []}})
    info = {"cpu": {"brand_raw": "AMD EPYC", "count": 2}, "python_version": "3.11.9",
            "torch_version": "2.13.0", "onnxruntime_version": "1.32.0", "gpu_name": None,
            "torch_threads": 1}
    return {"machine_info": info, "commit_info": {"id": "abc"}, "benchmarks": benches, "datetime": "x"}


def write(tmp_path: Path, name: str, doc: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_identical_files_pass(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    code, out, err = run(capsys, a, a)
    assert code == 0, out + err
    assert "no significant regression" in out
    assert "WARNING" not in err


def test_a_two_percent_shift_passes_at_ten_percent(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    shifted = results_doc(0)
    for e in shifted["measurements"]:
        e["times_s"] = [t * 1.02 for t in e["times_s"]]
    b = write(tmp_path, "b.json", shifted)
    code, out, err = run(capsys, a, b, "--fail-on", "median:10%")
    assert code == 0, out + err
    assert "slower" not in out


def test_fresh_noise_passes(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    b = write(tmp_path, "b.json", results_doc(1))
    code, out, err = run(capsys, a, b)
    assert code == 0, out + err


def test_a_two_x_slowdown_fails_and_is_named(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    b = write(tmp_path, "b.json", results_doc(1, {"inference/onnxruntime/cpu/1": 2.0}))
    code, out, err = run(capsys, a, b, "--fail-on", "median:10%")
    assert code == 1
    assert "REGRESSION: inference/onnxruntime/cpu/1" in err
    assert "inference/eager/cpu/1 " not in err  # only the slowed one is named
    assert "REGRESSED (1): inference/onnxruntime/cpu/1" in out


def test_a_two_x_speedup_is_faster_not_a_failure(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    b = write(tmp_path, "b.json", results_doc(1, {"train_epoch/eager/cpu/40": 0.5}))
    code, out, _ = run(capsys, a, b, "--json")
    assert code == 0
    rows = {m["label"]: m for m in json.loads(out)["measurements"]}
    assert rows["train_epoch/eager/cpu/40"]["verdict"] == "faster"
    assert rows["train_epoch/eager/cpu/40"]["ci_low"] < 0.5 < rows["train_epoch/eager/cpu/40"]["ci_high"] + 0.01


def test_a_small_threshold_catches_a_five_percent_slowdown(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    b = write(tmp_path, "b.json", results_doc(1, {"inference/eager/cpu/1": 1.05}))
    assert run(capsys, a, b, "--fail-on", "median:10%")[0] == 0
    assert run(capsys, a, b, "--fail-on", "median:2%")[0] == 1


def test_environment_differences_are_loud(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    other = results_doc(0)
    other["environment"]["cpu_model"] = "Intel Xeon"
    other["environment"]["threads"]["torch"] = 2
    b = write(tmp_path, "b.json", other)
    code, out, err = run(capsys, a, b, "--markdown")
    assert code == 0
    assert "ENVIRONMENTS DIFFER" in err and "cpu_model" in err and "threads.torch" in err
    assert "ENVIRONMENTS DIFFER" in out and out.lstrip().startswith("**linreg-bench compare**")
    code, out, _ = run(capsys, a, b, "--json")
    assert json.loads(out)["environment_differs"] is True


def test_one_sided_skipped_and_parity_rows(tmp_path, capsys):
    base = results_doc(0)
    new = results_doc(1)
    base["measurements"].append({"phase": "train_epoch", "runtime": "eager", "device": "cuda",
                                 "batch_size": 40, "skip_reason": "cuda: no CUDA device",
                                 "parity": None, "warnings": []})  # skipped, only in BASE
    new["measurements"].append({**new["measurements"][0], "batch_size": 80})  # only in NEW
    skipped = base["measurements"][1]                          # BASE skipped, NEW measures it
    for k in ("times_s", "calls_per_sample"):
        skipped.pop(k)
    skipped["skip_reason"] = "no onnxruntime"
    a, b = write(tmp_path, "a.json", base), write(tmp_path, "b.json", new)
    code, out, _ = run(capsys, a, b, "--json")
    assert code == 0
    verdicts = {m["label"]: m["verdict"] for m in json.loads(out)["measurements"]}
    assert verdicts["train_epoch/eager/cuda/40"] == "only in BASE"
    assert verdicts["train_epoch/eager/cpu/80"] == "only in NEW"
    assert verdicts["train_epoch/eager/cpu/1000000"] == "skipped"

    a = write(tmp_path, "a.json", results_doc(0))
    new = results_doc(1)
    new["measurements"][3]["parity"] = {"max_abs_error": 0.5, "max_ulp": 99, "passed": False,
                                       "tolerance": "bit-exact"}
    b = write(tmp_path, "b.json", new)
    code, out, err = run(capsys, a, b)
    assert code == 1
    assert "parity failed" in out and "correctness regression" in out
    assert "REGRESSION: inference/onnxruntime/cpu/1 (parity failed" in err


def test_pytest_benchmark_files(tmp_path, capsys):
    a = write(tmp_path, "a.json", pytest_doc(0))
    b = write(tmp_path, "b.json", pytest_doc(1))
    assert run(capsys, a, b)[0] == 0
    slow = write(tmp_path, "slow.json", pytest_doc(1, {"test_inference[eager-1]": 2.0}))
    code, _, err = run(capsys, a, slow)
    assert code == 1 and "test_inference[eager-1]" in err
    other = pytest_doc(1)
    other["machine_info"]["torch_version"] = "2.12.0"
    code, _, err = run(capsys, a, write(tmp_path, "o.json", other))
    assert code == 0 and "torch_version: '2.13.0' -> '2.12.0'" in err


def test_autosaved_pytest_benchmark_files_are_inconclusive(tmp_path, capsys):
    a = write(tmp_path, "a.json", pytest_doc(0, keep_data=False))
    b = write(tmp_path, "b.json", pytest_doc(1, {"test_inference[eager-1]": 2.0}, keep_data=False))
    code, out, err = run(capsys, a, b)
    assert code == 1  # 2x slower: without samples the gate cannot tell, so it must not pass it
    assert "inconclusive" in out and "--benchmark-json" in out
    assert "REGRESSION: tests/benchmarks/x.py::test_inference[eager-1] (inconclusive" in err
    same = write(tmp_path, "same.json", pytest_doc(1, keep_data=False))
    assert run(capsys, a, same)[0] == 0  # within the threshold: nothing to tell


@pytest.mark.parametrize("make, expected", [
    (lambda d: None, "no such file"),
    (lambda d: d.joinpath("bad.json").write_text("{nope") and d / "bad.json", "invalid JSON"),
    (lambda d: d.joinpath("v9.json").write_text(json.dumps({**results_doc(0), "schema_version": 9}))
     and d / "v9.json", "unknown schema"),
    (lambda d: d.joinpath("list.json").write_text("[1, 2]") and d / "list.json", "neither"),
    (lambda d: d.joinpath("bad_entry.json").write_text(json.dumps(
        {**results_doc(0), "measurements": [{"phase": "x"}]})) and d / "bad_entry.json", "measurements[0]"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, make, expected):
    good = write(tmp_path, "a.json", results_doc(0))
    bad = make(tmp_path) or tmp_path / "missing.json"
    code, out, err = run(capsys, good, str(bad))
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("argv", [["--fail-on", "mean:10%"], ["--fail-on", "median:ten"], ["--alpha", "2"]])
def test_bad_options_exit_2(tmp_path, capsys, argv):
    a = write(tmp_path, "a.json", results_doc(0))
    code, _, err = run(capsys, a, a, *argv)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_needs_two_files_or_a_revision(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    code, _, err = run(capsys, a)
    assert code == 2 and "two files" in err
    code, _, err = run(capsys, a, a, "--rev", "HEAD")
    assert code == 2 and "not both" in err


def test_output_file_is_written(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0))
    target = tmp_path / "report" / "cmp.md"
    assert run(capsys, a, a, "--markdown", "-o", str(target))[0] == 0
    assert target.read_text().startswith("**linreg-bench compare**")


def test_help_works(capsys):
    assert main(["compare", "--help"]) == 0
    assert "--fail-on" in capsys.readouterr().out


def test_skipped_alike_in_both_collapses_to_one_line(tmp_path, capsys):
    docs = []
    for seed in (0, 1):
        doc = results_doc(seed)
        for batch in (1, 1000, 10**6):
            doc["measurements"].append({"phase": "inference", "runtime": "eager", "device": "cuda",
                                        "batch_size": batch, "skip_reason": "cuda: no CUDA device",
                                        "parity": None, "warnings": []})
        docs.append(write(tmp_path, f"{seed}.json", doc))
    code, out, _ = run(capsys, *docs)
    assert code == 0
    assert "skipped in both (3): cuda: no CUDA device (3)" in out
    assert "inference/eager/cuda" not in out
