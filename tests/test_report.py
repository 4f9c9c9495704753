"""report.md: fingerprint, floors, parity verdicts (failures first), speedups, warnings, skips, plots."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bench.engine.units import format_duration, format_rate, format_size
from bench.report import render_report, write_report
from bench.store.results import load_results

GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"


@pytest.fixture(scope="module")
def golden() -> dict:
    return load_results(GOLDEN)


@pytest.mark.parametrize("seconds, text", [
    (2.5e-8, "25.0 ns"), (7.1e-6, "7.10 µs"), (9.9996e-7, "1.00 µs"), (1.3e-4, "130 µs"),
    (0.0098, "9.80 ms"), (2.35, "2.35 s"), (150.0, "150 s"), (0.0, "0 s"), (None, "–"),
    (float("nan"), "–"), (99.96e-6, "100 µs"),
])
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_in_a_given_unit() -> None:
    assert format_duration(3.1e-7, "µs") == "0.310 µs"
    assert format_duration(3.4e-5, "ms") == "34.0 µs"  # 0.034 ms would be harder to read


def test_format_rate_and_size() -> None:
    assert format_rate(7.52e6) == "7.52 M/s" and format_rate(1234) == "1.23 k/s" and format_rate(12) == "12.0/s"
    assert [format_size(n) for n in (1, 40, 1000, 10**4, 10**7, 12345)] == \
        ["1", "40", "1000", "10^4", "10^7", "12,345"]


def test_report_of_the_golden_run(golden: dict, tmp_path: Path) -> None:
    for name in ("inference_latency.png", "inference_throughput.png", "train_epoch.png"):
        (tmp_path / name).write_bytes(b"")  # write_report embeds the plots that exist; drawing them is test_plots' job
    path = write_report(golden, tmp_path)
    assert path == tmp_path / "report.md"
    text = path.read_text()
    # Fingerprint and floors.
    for needle in ("AMD EPYC 9B14", "torch 2.13.0+cpu", "onnxruntime 1.32.0", "MALLOC_MMAP_MAX_=0",
                   "`8737064a1f3c` (clean)", "Threads | torch 2, onnxruntime 2", "26.0 GB/s", "25.0 ns",
                   "| bandwidth_copy_bytes | 400 MB |", "| bandwidth_warnings | none |"):
        assert needle in text, needle
    # Parity verdicts, all passed.
    assert "All 32 parity checks passed." in text and "**FAIL**" not in text
    assert "## Parity" not in text  # all passed: one line, no 44-row table of PASS
    # The answer leads; internals below it.
    assert text.index("## The answer") < text.index("## Training") < text.index("## Environment")
    assert "- inference on cpu, batch " in text and "(raw median, no draws)" in text

    # Speedups vs eager at the same size and device, compile time apart, efficiency for large batches.
    assert "| fused | 6.59× | 5.45× | 1.56× | 1.57× |" in text
    assert "| 10^7 | torch_compile | cpu | 3.37 ms ± 0.210 ms | 2.97 G | 2.88× | 1.10 s | 91% | 0 | PASS |  |" in text
    assert "| 1 | torch_compile | cpu | 20.2 µs ± 4.91 µs | 49.5 k | 0.35× | 19.5 s | – | 0 | PASS | ⚠ |" in text
    assert "| 10^6 | torch_compile | cpu | 1.48 ms ± 75.0 µs | 2.06× | 1.10 s | 21% | 0 | PASS |  |" in text
    assert "| 40 | eager | cpu | 159 µs ± 5.10 µs | 1.00× (baseline) |" in text
    # Warnings, skips with reasons, plots by relative link, the reading guide.
    assert "- `inference/torch_compile/cpu/1`: unstable: IQR is 12% of the median (> 10%)" in text
    assert "- train_epoch on `cpu`: cuda_graph at N 40, 10^4, 10^6, 10^7: cuda_graph needs a CUDA device" in text
    assert ("- inference on `cuda`: eager, inference_mode, torchscript, exported_program, onnxruntime, "
            "torch_compile at batch 1, 1000, 10^6, 10^7: cuda: no CUDA device") in text
    for name in ("inference_latency.png", "inference_throughput.png", "train_epoch.png"):
        assert f"]({name})" in text
    assert "## How to read this" in text and "within one device" in text


def test_answer_names_a_winner_only_where_the_intervals_separate() -> None:
    from bench.report.answer import answer_lines

    def entry(runtime, size, est, low, high, **extra):
        return {"phase": "inference", "runtime": runtime, "device": "cpu", "batch_size": size,
                "times_s": [est], "median_s": est * 1.01, "estimate_s": est,
                "estimate": {"interval_s": [low, high], "method": "median of draw medians", "draws": 12},
                **extra}
    lines = answer_lines([entry("eager", 1, 3e-6, 2.9e-6, 3.1e-6), entry("onnxruntime", 1, 2e-6, 1.9e-6, 2.1e-6),
                          entry("eager", 1000, 4e-6, 3.9e-6, 4.1e-6),
                          entry("onnxruntime", 1000, 2e-6, 1.9e-6, 2.1e-6, bandwidth_efficiency=1.53),
                          entry("eager", 10**5, 5.26e-6, 5.23e-6, 5.28e-6),
                          entry("inference_mode", 10**5, 5.26e-6, 4.82e-6, 6.62e-6),
                          entry("eager", 10**6, 1e-3, 1e-3, 1e-3), entry("onnxruntime", 10**6, 2e-3, 2e-3, 2e-3)])
    text = "\n".join(lines)
    assert ("- inference on cpu, batch 1 to 1000: **onnxruntime** is fastest, 1.50x eager (the runner-up)"
            " [1.38, 1.63] at 1; 2.00x eager (the runner-up) [1.86, 2.16] at 1000.") in text
    # overlapping intervals: a tie, never a winner
    assert "batch 10^5: no single fastest; **eager**, **inference_mode** tie" in text
    assert "- inference on cpu, batch 10^6: **eager** is fastest, 2.00x onnxruntime (the runner-up) [2.00, 2.00]." in text
    assert "`inference/onnxruntime/cpu/1`: 2.00 µs [1.90 µs, 2.10 µs] (12 draws; raw median 2.02 µs)" in text
    assert "error of the floor" in text and "153%" in text


def test_answer_of_an_old_file_shows_its_draws_not_its_rescaled_estimate() -> None:
    from bench.report.answer import value_of

    v2 = {"times_s": [2e-6] * 3, "median_s": 2e-6, "estimate_s": 3.2e-6,
          "estimate": {"method": "reference-ratio", "interval_s": [3e-6, 3.4e-6]},
          "processes": [{"draws": [{"median_s": 2e-6}, {"median_s": 2.1e-6}, {"median_s": 1.9e-6}]}]}
    value, low, high = value_of(v2)
    # the fast state of 1.9, 2.0, 2.1 us (their first quartile), between the lowest and highest
    assert value == pytest.approx(1.95e-6) and (low, high) == (1.9e-6, 2.1e-6)


def test_parity_failure_is_loud_at_the_top(golden: dict) -> None:
    results = copy.deepcopy(golden)
    bad = next(e for e in results["measurements"] if e["runtime"] == "onnxruntime" and e["batch_size"] == 1000)
    bad["parity"] = {"max_abs_error": 0.25, "max_ulp": 4194304, "passed": False, "tolerance": "bit-exact"}
    text = render_report(results)
    banner = text.index("PARITY FAILED for 1 measurement(s)")
    assert banner < text.index("## Environment")
    assert "`inference/onnxruntime/cpu/1000`: max_abs_error 0.25, max_ulp 4194304" in text
    parity = text[text.index("## Parity"):]
    first_row = parity.splitlines()[4]
    assert "onnxruntime" in first_row and "**FAIL**" in first_row  # failures sort first
    assert "1 parity failures" in text


def test_report_without_plots_or_baseline(golden: dict, tmp_path: Path) -> None:
    results = copy.deepcopy(golden)
    results["measurements"] = [e for e in results["measurements"]
                               if e["phase"] == "inference" and e["runtime"] != "eager"]
    results["environment"] = {"torch": "2.13.0+cpu", "torch_threads": 2}  # linreg's flat fingerprint
    text = write_report(results, tmp_path).read_text()
    assert "| Versions | torch 2.13.0+cpu |" in text and "| Threads | torch 2 |" in text
    assert "| GPU | none |" in text and "| Git commit | – |" in text
    assert "## Plots" not in text and "## Training" not in text
    assert "1.00× (baseline)" not in text and "| 1 | onnxruntime | cpu | 6.04 µs ± 0.229 µs | 166 k | – |" in text


def test_speedups_compare_within_one_device(golden: dict) -> None:
    results = copy.deepcopy(golden)
    gpu = []
    for e in results["measurements"]:
        if e["phase"] == "inference" and e["device"] == "cpu" and e["batch_size"] == 1:
            scale = 0.5 if e["runtime"] == "eager" else 2.0  # on the GPU eager is 2x faster, the others 2x slower
            gpu.append(dict(e, device="cuda:0", times_s=[t * scale for t in e["times_s"]],
                            median_s=e["median_s"] * scale, iqr_s=e["iqr_s"] * scale))
    results["measurements"] += gpu
    text = render_report(results)
    assert "Speedup vs eager on `cpu`" in text and "Speedup vs eager on `cuda:0`" in text
    cuda_matrix = text[text.index("Speedup vs eager on `cuda:0`"):]
    assert "| onnxruntime | 0.30× |" in cuda_matrix  # 4x slower than eager on its own device: (0.5*7.17)/(2*6.04)


def test_no_parity_checks_and_pipes_in_cells(golden: dict) -> None:
    results = copy.deepcopy(golden)
    for e in results["measurements"]:
        e.pop("parity", None)
    results["config"]["artifacts"] = {"checkpoint": "/tmp/odd dir|x/model.pth"}
    text = render_report(results)
    assert "No parity checks ran." in text and "All 0 parity checks" not in text
    rows = [line for line in text.splitlines() if "odd dir" in line]
    assert rows and all(line.startswith("|") and "odd dir\\|x" in line for line in rows)


def test_efficiency_is_left_out_for_a_device_without_a_floor(golden: dict) -> None:
    results = copy.deepcopy(golden)
    results["floors"]["device_bandwidth_bytes_per_s"] = {"cpu": results["floors"]["bandwidth_bytes_per_s"]}
    for e in results["measurements"]:
        e["device"] = "cuda"
    text = render_report(results)
    rows = [line for line in text.splitlines() if line.startswith("| 10^") and "| cuda |" in line]
    assert rows and all("%" not in r for r in rows)
