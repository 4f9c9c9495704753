"""An interrupted run keeps what it finished: results.json marked partial; compare refuses it as BASE."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.executors
from bench.cli import main


def test_interrupted_run_writes_what_it_finished_and_compare_refuses_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench.executors.run_job

    def interrupt_onnxruntime(job, emit=None):
        if job.get("runtime") == "onnxruntime":
            raise KeyboardInterrupt
        return real(job, emit)
    monkeypatch.setattr(bench.executors, "run_job", interrupt_onnxruntime)
    out = tmp_path / "cut"
    argv = ["run", "--smoke", "--out", str(out), "--runtimes", "eager", "onnxruntime",
            "--variants", "eager", "--devices", "cpu", "--batch-sizes", "1"]  # one size: seconds less
    assert main(argv) == 130
    results = json.loads((out / "results.json").read_text())
    assert results["partial"] is True and "SIGINT" in results["partial_reason"]
    assert {m["runtime"] for m in results["measurements"] if "times_s" in m} == {"eager"}
    assert (out / "report.md").is_file()
    capsys.readouterr()
    monkeypatch.setattr(bench.executors, "run_job", real)
    full = tmp_path / "full"  # the same suite, from the cut run's export: no second train + export
    assert main(["bench", "--export-dir", str(out / "export")] + argv[1:3] + [str(full)] + argv[4:]) == 0
    capsys.readouterr()
    assert main(["compare", str(out / "results.json"), str(full / "results.json")]) == 2
    assert "partial run" in capsys.readouterr().err
    assert main(["compare", "--allow-partial", "--fail-on", "median:900%",
                 str(out / "results.json"), str(full / "results.json")]) == 0
    assert main(["compare", "--fail-on", "median:900%", str(full / "results.json"),
                 str(out / "results.json")]) == 1  # NEW lost what BASE measured
    assert "NEW is a partial run" in capsys.readouterr().err
