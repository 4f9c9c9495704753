"""End to end through bench.cli.main: `run --smoke` (seconds), `run --quick` (slow), bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.engine.estimate import quantile
from bench.store.schema import FINGERPRINT_KEYS, SCHEMA_VERSION


def _get(d: dict, dotted: str) -> object:
    for part in dotted.split("."):
        assert part in d, f"missing environment key {dotted}"
        d = d[part]
    return d


def check_results(out: Path, probed: bool = True) -> dict:
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == SCHEMA_VERSION
    for key in FINGERPRINT_KEYS:
        _get(results["environment"], key)
    assert "commit" in results["environment"]["git"]
    timed = [m for m in results["measurements"] if "times_s" in m]
    skipped = [m for m in results["measurements"] if "skip_reason" in m]
    assert timed and all(m["times_s"] and m["median_s"] > 0 for m in timed)
    assert all(m["parity"]["passed"] for m in timed if m["parity"])
    assert all(not m["skip_reason"].startswith("worker failed") for m in skipped)
    runtimes = {m["runtime"] for m in results["measurements"] if m["phase"] == "inference"}
    assert runtimes == {"eager", "inference_mode", "torchscript", "exported_program",
                        "onnxruntime", "torch_compile"}
    assert results["floors"]["bandwidth_bytes_per_s"] > 0
    if probed:  # --quick skips the ORT interference probe
        assert "ort_interference_slowdown_spinning" in results["floors"]
        assert "ort_interference_threads2_slowdown_spinning" in results["floors"]  # one worker, both counts
    for name in ("results.csv", "report.md", "train/model.pth", "export/manifest.json"):
        assert (out / name).is_file(), name
    assert list(out.glob("*.png"))
    return results


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One whole `run --smoke` (its stderr with it), shared: bench from its export folder too."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    capture = pytest.MonkeyPatch()
    import io
    import sys

    err = io.StringIO()
    capture.setattr(sys, "stderr", err)
    try:
        assert main(["run", "--smoke", "--out", str(out)]) == 0, err.getvalue()
    finally:
        capture.undo()
    return out, err.getvalue()


def test_run_smoke_end_to_end(smoke_run: tuple[Path, str]) -> None:
    out, err = smoke_run
    results = check_results(out)
    assert results["config"]["isolation"] == "none"
    assert results["config"]["timing"]["gc"] == "off inside timed blocks"  # the one GC policy, recorded
    assert "[1/3] train" in err and "[3/3] bench" in err
    assert "bench: plan: " in err and "about " in err  # the plan, said before training


def test_bench_from_an_export_folder(tmp_path: Path, smoke_run: tuple[Path, str]) -> None:
    out = smoke_run[0]
    again = tmp_path / "again"
    assert main(["bench", "--smoke", "--out", str(again), "--export-dir", str(out / "export"),
                 "--runtimes", "onnxruntime", "--variants", "eager", "--devices", "cpu",
                 "--history", str(tmp_path / "store")]) == 0
    results = json.loads((again / "results.json").read_text())
    (stored,) = (tmp_path / "store").glob(f"{results['environment']['machine_id']}/*_{results['run_id']}.json")
    assert stored.read_bytes() == (again / "results.json").read_bytes()  # --history: the run itself
    ort = [m for m in results["measurements"] if m["runtime"] == "onnxruntime"]
    assert ort and all(m["provider"] == "CPUExecutionProvider" for m in ort)


@pytest.mark.parametrize("argv, needle", [
    (["bench", "--out", "{tmp}/o", "--export-dir", "{tmp}/nope"], "export folder not found"),
    (["bench", "--out", "{tmp}/o", "--checkpoint", "{tmp}/nope.pth"], "checkpoint not found"),
    (["run", "--out", "{tmp}/o", "--runtimes", "tensorrt"], "'tensorrt'"),
    (["run", "--out", "{tmp}/o", "--threads", "0"], "threads"),
    (["run", "--out", "{tmp}/o", "--batch-sizes", "0"], "--batch-sizes"),
    (["run", "--out", "{tmp}/o", "--batch-sizes", "10", "-5"], "--batch-sizes"),
    (["run", "--out", "{tmp}/o", "--train-sizes", "ten"], "not an integer: 'ten'"),
    (["run", "--out", "{tmp}/o", "--train-sizes", str(10**15)], "of memory"),
    (["run", "--out", "{tmp}/o", "--processes", "0"], "--processes"),
])
def test_user_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         argv: list[str], needle: str) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and needle in err and "Traceback" not in err


@pytest.mark.slow
def test_run_quick_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "quick"
    assert main(["run", "--quick", "--out", str(out)]) == 0
    results = check_results(out, probed=False)
    assert results["config"]["isolation"] == "fork"  # --quick's workers: forked, preloaded
    assert results["environment"]["allocator"]["MALLOC_MMAP_MAX_"] == "0"
    compiled = [m for m in results["measurements"] if m["runtime"] == "torch_compile"]
    assert all(m["skip_reason"].startswith("skipped in --quick") for m in compiled)
    # the short LoadGen pass: every runtime --quick measures except torch.compile, 0.5 s each
    passed = results["loadgen"]
    assert passed["duration_s"] == 0.5 and all(r["valid"] for r in passed["runs"]), passed
    assert {r["runtime"] for r in passed["runs"]} == {"eager", "inference_mode", "torchscript",
                                                     "exported_program", "onnxruntime"}


def test_parity_failure_exits_1_after_writing_everything_and_the_cache_dir_is_set_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two behaviours, one smoke run (each is seconds): a parity failure, and the Inductor cache
    folder that run sets before exporting, used and recorded."""
    import os

    import bench.runtimes.measure
    from bench.engine.measurement import Parity

    monkeypatch.setattr(bench.runtimes.measure, "check_parity",
                        lambda *a, **k: Parity(1.0, 99, False, "bit-exact"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    out = tmp_path / "bad"
    assert main(["run", "--smoke", "--out", str(out), "--runtimes", "eager",
                 "--variants", "eager", "--devices", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "error: parity failed for 2 measurement(s): inference/eager/cpu/" in err
    for name in ("results.json", "results.csv", "report.md"):
        assert (out / name).is_file(), name
    assert "PARITY FAILED" in (out / "report.md").read_text()
    expected = str(tmp_path / "xdg" / "linreg-bench" / "inductor")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == expected
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["torchinductor_cache_dir"] == expected
    # no onnxruntime in --runtimes: the ORT interference probe is recorded as skipped
    assert results["floors"]["ort_interference_skipped"] == "onnxruntime not in --runtimes"
    assert results["floors"]["device_bandwidth_bytes_per_s"]["cpu"] > 0


def test_processes_interleave_and_every_measurement_gets_an_estimate(
        tmp_path: Path, exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k3"
    assert main(["bench", "--export-dir", str(exported), "--smoke", "--out", str(out), "--runtimes", "eager", "onnxruntime",
                 "--variants", "eager", "--devices", "cpu", "--processes", "3",
                 "--batch-sizes", "1", "7", "--train-sizes", "40"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["processes"] == 3 and results["config"]["batch_sizes"] == [1, 7]
    timed = [m for m in results["measurements"] if "times_s" in m]
    assert {(m["phase"], m["batch_size"]) for m in timed} == {
        ("train_epoch", 40), ("inference", 1), ("inference", 7)}
    for m in timed:
        assert len(m["processes"]) == 3
        assert m["n_samples"] == sum(p["n_samples"] for p in m["processes"])
        est = m["estimate"]
        assert est["processes"] == 3 and est["method"] == "first quartile of draw medians"
        low, high = est["interval_s"]
        assert low <= m["estimate_s"] <= high
        draws = [d for p in m["processes"] for d in p["draws"]]
        assert est["draws"] == len(draws) and all(d["reference_s"] > 0 for d in draws)
        # the published time is the run's own: the fast state (first quartile) of the draws'
        # measured medians
        assert m["estimate_s"] == pytest.approx(quantile([d["median_s"] for d in draws], 0.25))
        assert est["host"]["draw_ratios"] == [d["ratio"] for d in draws]
        assert len(draws) == 3 * results["config"]["timing"]["rounds"]  # every size < 10^7
