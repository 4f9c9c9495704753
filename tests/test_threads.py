"""Thread counts as a list (`--threads 1 2`, `threads = [1, 2]`): the plan, the keys, the report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.commands import suite_config_from_args
from bench.compare.comparison import compare_files
from bench.compare.files import load_bench_file
from bench.compare.gate import MedianGate
from bench.engine.measurement import Measurement, Parity, Spec
from bench.report.markdown import render_report
from bench.store.results import build_results, load_results, write_csv
from bench.suite import SuiteConfig, SuiteError, count_measurements, planned_jobs
from tests.helpers import bench_args

ENV = {"cpu_model": "AMD EPYC", "cpu_count": 2, "versions": {"torch": "2.13.0"}}


def test_a_list_in_the_file_and_the_command_line_wins(tmp_path: Path) -> None:
    args = bench_args(tmp_path, "threads = [1, 2]\n")
    assert args.threads == [1, 2] and suite_config_from_args(args).threads == (1, 2)
    assert suite_config_from_args(bench_args(tmp_path, "threads = [1, 2]\n", "--threads", "4")).threads == (4,)
    assert suite_config_from_args(bench_args(tmp_path, "threads = 2\n")).threads == (2,)  # one, as before lists
    assert suite_config_from_args(bench_args(tmp_path, "", "--threads", "2", "1", "2")).threads == (2, 1)
    default = build_parser().parse_args(["bench", "--out", "o", "--export-dir", "e"])
    config = suite_config_from_args(default)
    assert config.threads == (1,) and config.to_json()["threads"] == 1  # the default file is unchanged


@pytest.mark.parametrize("toml, message", [
    ("threads = [0]\n", "key threads: must be >= 1, got 0"),
    ("threads = [1, -2]\n", "key threads: must be >= 1, got -2"),
    ('threads = [1, "two"]\n', "key threads: expected an integer, got 'two'"),
    ("threads = []\n", "key threads: expected a non-empty list"),
    ("threads = [1.5]\n", "key threads: expected an integer, got 1.5"),
])
def test_bad_thread_lists_in_the_file(tmp_path: Path, capsys, toml: str, message: str) -> None:
    cfg = tmp_path / "bench.toml"
    cfg.write_text(toml)
    code = main(["bench", "--out", str(tmp_path / "o"), "--export-dir", str(tmp_path), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {cfg}: ") and message in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, message", [
    (["0"], "must be >= 1, got 0"), (["1", "-1"], "must be >= 1, got -1"), (["x"], "not an integer: 'x'"),
])
def test_bad_thread_counts_on_the_command_line(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    code = main(["run", "--out", str(tmp_path / "o"), "--threads", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o").exists()


def test_config_show_prints_the_list() -> None:
    from bench.settings import show_defaults
    assert "\nthreads = [1]\n" in show_defaults(build_parser()._subparsers._group_actions[0].choices["bench"])


def test_suite_plans_every_measurement_at_each_count() -> None:
    config = SuiteConfig(threads=(1, 2), runtimes=("onnxruntime",), variants=("eager",), devices=("cpu",),
                         batch_sizes=(1,), train_sizes=(40,))
    jobs = [job for job, _ in planned_jobs(config, None) if job]
    assert sorted((j["task"], j["threads"]) for j in jobs) == [("training", 1), ("training", 2)]
    assert count_measurements(config) == 4
    skips = [m.spec for _, s in planned_jobs(config, None) for m in s]  # no export: ORT is skipped
    assert [(s.runtime, s.threads) for s in skips] == [("onnxruntime", 1), ("onnxruntime", 2)]
    assert SuiteConfig(threads=2).threads == (2,) and SuiteConfig(threads=(2, 1, 2)).threads == (2, 1)
    for bad in ((), (0,), (1, -1), (True,)):
        with pytest.raises(SuiteError, match="threads"):
            SuiteConfig(threads=bad)


def _measurement(runtime: str, size: int, threads: int, seconds: float, scaling: bool) -> Measurement:
    spec = Spec("inference", runtime, "cpu", size, threads=threads, thread_scaling=scaling)
    parity = Parity(0.0, 0, True, "bit-exact")
    return Measurement(spec, tuple(seconds * (1 + 0.001 * i) for i in range(9)), parity=parity)


def _results(tmp_path: Path, name: str, counts: tuple[int, ...]) -> Path:
    """A synthetic run: eager and onnxruntime at batch 1000, twice as fast at 2 threads."""
    ms = [_measurement(r, 1000, t, base / t, len(counts) > 1)
          for t in counts for r, base in (("eager", 4e-5), ("onnxruntime", 2e-5))]
    env = {**ENV, "threads": {"torch": counts[0] if len(counts) == 1 else list(counts)}}
    doc = build_results(env, {"threads": counts[0] if len(counts) == 1 else list(counts)}, {}, ms)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_results_keep_each_count_apart_and_the_report_shows_scaling(tmp_path: Path) -> None:
    path = _results(tmp_path, "multi.json", (1, 2))
    results = load_results(path)
    assert [e["threads"] for e in results["measurements"]] == [1, 1, 2, 2]
    report = render_report(results)
    assert "# At 1 thread" in report and "# At 2 threads" in report
    scaling = report[report.index("## Thread scaling"):]
    row = next(line for line in scaling.splitlines() if line.startswith("| inference | eager |"))
    assert "40.2 µs" in row and "20.1 µs" in row and row.endswith("| 2.00× |"), row
    write_csv(results, tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].split(",")[:6] == ["phase", "runtime", "device", "batch_size", "world_size", "threads"]
    assert lines[3].startswith("inference,eager,cpu,1000,,2,")


def test_a_multi_count_run_compares_with_a_one_count_baseline(tmp_path: Path) -> None:
    base = load_bench_file(_results(tmp_path, "one.json", (1,)))
    new = load_bench_file(_results(tmp_path, "multi.json", (1, 2)))
    assert set(new.entries) == {"inference/eager/cpu/1000", "inference/onnxruntime/cpu/1000",
                                "inference/eager-t2/cpu/1000", "inference/onnxruntime-t2/cpu/1000"}
    result = compare_files(base, new, MedianGate.parse("median:10%"))
    verdicts = {r.key: r.verdict.name for r in result.rows}
    assert verdicts["inference/eager-t2/cpu/1000"] == "ONLY_IN_NEW"
    assert verdicts["inference/eager/cpu/1000"] not in ("LOST", "ONLY_IN_BASE", "ONLY_IN_NEW")
    assert not result.env_diffs and not result.warnings[1:]  # the keys carry the counts
    two = load_bench_file(_results(tmp_path, "two.json", (2,)))  # one count, 2 threads: bare keys
    assert set(two.entries) == {"inference/eager/cpu/1000", "inference/onnxruntime/cpu/1000"}
    result = compare_files(two, new, MedianGate.parse("median:10%"))
    assert any("THREAD COUNTS DIFFER" in w and "inference/eager/cpu/1000 (2 -> 1)" in w for w in result.warnings)


def test_an_old_entry_without_threads_keeps_its_key(tmp_path: Path) -> None:
    doc = json.loads(_results(tmp_path, "one.json", (1,)).read_text())
    for e in doc["measurements"]:
        del e["threads"]
    doc["schema_version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = load_bench_file(tmp_path / "old.json")
    assert set(old.entries) == {"inference/eager/cpu/1000", "inference/onnxruntime/cpu/1000"}
    doc["measurements"][0]["threads"] = 0
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="threads must be an integer >= 1"):
        load_results(tmp_path / "bad.json")


def test_a_small_run_measures_each_count_under_its_own_key(tmp_path: Path) -> None:
    """In this process (isolation none), tiny timings: eager inference at 1 and 2 threads."""
    import torch

    from bench.pipeline import smoke_config
    from bench.runtimes.base import Artifacts
    from bench.suite import run_suite
    from linreg.checkpoint import save_checkpoint
    from linreg.models import build_model

    torch.manual_seed(0)
    save_checkpoint(build_model("parameter"), tmp_path / "model.pth")
    config = smoke_config(threads=(1, 2), runtimes=("eager",), variants=(), devices=("cpu",),
                          batch_sizes=(10,), processes=1, reference=False, interference=False)
    before = torch.get_num_threads()
    try:
        result = run_suite(config, Artifacts(tmp_path / "model.pth"))
    finally:
        torch.set_num_threads(before)  # in-process: the other tests keep their count
    entries = [m.to_dict() for m in result.measurements]
    assert [(m.spec.label, m.spec.threads) for m in result.measurements] == [
        ("inference/eager/cpu/10", 1), ("inference/eager-t2/cpu/10", 2)]
    assert all(e["thread_scaling"] is True and e["times_s"] for e in entries)
