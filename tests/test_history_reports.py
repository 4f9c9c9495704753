"""`compare BASE NEW [NEW ...]` and `report A.json B.json ...` (machines side by side)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.cli import main
from tests.history_synthetic import results_doc, utc

KEYS = {("inference", "eager", 1): 5e-6, ("inference", "eager", 1_000_000): 1e-4}
GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"


def write_run(path: Path, machine: str, factor: float, seed: int, gpu: str | None = None,
              bandwidth: float = 2e10) -> Path:
    data = results_doc(machine, f"{seed:040x}", utc(seed), {k: v * factor for k, v in KEYS.items()},
                       random.Random(seed), samples=20, gpu=gpu)
    data["floors"] = {"empty_call_s": 2.5e-8, "device_bandwidth_bytes_per_s": {"cpu": bandwidth}}
    for e in data["measurements"]:
        if e["batch_size"] >= 100_000:
            e["bandwidth_efficiency"] = 8 * e["batch_size"] / e["median_s"] / bandwidth
    path.write_text(json.dumps(data))
    return path


def test_compare_takes_several_new_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base.json", "box", 1.0, 1)
    same = write_run(tmp_path / "same.json", "box", 1.0, 2)
    slow = write_run(tmp_path / "slow.json", "box", 1.3, 3)
    assert main(["compare", str(base), str(same)]) == 0
    capsys.readouterr()
    assert main(["compare", str(base), str(same), str(slow), "--json"]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert [c["new"]["path"] for c in doc["comparisons"]] == [str(same), str(slow)]
    assert [c["exit_code"] for c in doc["comparisons"]] == [0, 1] and doc["exit_code"] == 1
    assert f"REGRESSION: {slow}: inference/eager/cpu/1" in err
    assert main(["compare", str(base), str(same), str(tmp_path / "missing.json")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and len(err.splitlines()) == 1


def test_report_puts_machines_side_by_side_with_their_floors(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    cpu = write_run(tmp_path / "cpu.json", "cpu-box", 1.0, 1, bandwidth=2e10)
    gpu = write_run(tmp_path / "gpu.json", "h200-box", 0.5, 2, gpu="NVIDIA H200", bandwidth=4e12)
    out_file = tmp_path / "side.md"
    assert main(["report", str(cpu), str(gpu), str(GOLDEN), "-o", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert out == out_file.read_text()
    assert "| measurement | cpu-box | h200-box | golden | fastest |" in out
    assert "- **h200-box**: AMD EPYC 7B13 x2, NVIDIA H200" in out
    assert "cpu 20.0 GB/s" in out and "cpu 4000.0 GB/s" in out
    row = next(line for line in out.splitlines() if line.startswith("| inference/eager/cpu/1000000 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[-1] == "h200-box"              # half the time: the fastest
    assert cells[1].endswith("%") and cells[2].endswith("%")   # efficiency against its own floor
    assert main(["report", str(cpu), str(tmp_path / "nope.json")]) == 2
