"""The pytest-benchmark suite end to end: its JSON carries our machine_info and feeds `compare`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.compare import load_bench_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_suite_json_feeds_compare(tmp_path, capsys):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", "-q", "-p", "no:cacheprovider",
         "-m", "not slow", "-k", "cpu and (eager-1] or fused-40])",
         "--benchmark-max-time=0.01", "--benchmark-min-rounds=5", f"--benchmark-json={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    bench = load_bench_file(out)
    assert bench.format == "pytest-benchmark"
    for key in ("torch_version", "onnxruntime_version", "cuda_version", "gpu_name", "torch_threads"):
        assert key in bench.fingerprint or key in ("cuda_version", "gpu_name")  # None on a CPU build
    assert "inference/eager/cpu/1" in bench.entries
    assert "train_epoch/fused/cpu/40" in bench.entries
    assert len(bench.entries["inference/eager/cpu/1"].times_s) >= 5  # raw samples kept
    assert main(["compare", str(out), str(out)]) == 0
    assert "no significant regression" in capsys.readouterr().out
