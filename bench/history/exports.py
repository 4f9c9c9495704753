"""Exports of the newest run of each machine to the dashboards people already run.

- github-action-benchmark, tool `customSmallerIsBetter`: a JSON list of {name, unit, value, range,
  extra} (its BenchmarkResult: value a number, range and extra strings);
- Bencher Metric Format (BMF): {benchmark name: {"latency": {value, lower_value, upper_value}}},
  latency in nanoseconds (Bencher's built-in Latency measure);
- pytest-benchmark's --benchmark-json layout (machine_info, commit_info, benchmarks[].stats with
  the raw samples in `data`, datetime, version), one machine per file, its statistics computed
  by pytest-benchmark's own Stats class.

Values are the points of the trends: the time each run measured (its fast state: the first quartile
of its draws' medians; the raw median for runs without draws). The samples are the raw measured samples.
"""
from __future__ import annotations

from typing import Any

from bench.history.analysis import History
from bench.history.runs import Run
from bench.history.steps import newest_runs
from linreg.errors import LinregError

FORMATS = ("github-action-benchmark", "bmf", "pytest-benchmark")


def selected_runs(history: History, machine: str | None = None) -> list[Run]:
    """The newest run of every machine, or of `machine` alone."""
    newest = newest_runs(history.store.runs)
    if machine is None:
        return [newest[m] for m in sorted(newest)]
    if machine not in newest:
        raise LinregError(f"--machine {machine}: no such machine in the store "
                          f"(it has {', '.join(sorted(newest)) or 'none'})")
    return [newest[machine]]


def bench_name(run: Run, key: str) -> str:
    return f"{run.labels[key]} [{run.machine}]"


def github_action_benchmark(runs: list[Run]) -> list[dict[str, Any]]:
    """customSmallerIsBetter entries, in microseconds."""
    out = []
    for run in runs:
        for key, p in run.points.items():
            half = (p.high_s - p.low_s) / 2 * 1e6
            out.append({
                "name": bench_name(run, key), "unit": "us", "value": p.value_s * 1e6,
                "range": f"± {half:.4g}",
                "extra": (f"{p.source} [{p.low_s * 1e6:.4g}, {p.high_s * 1e6:.4g}] us\n"
                          f"machine: {run.machine}\ncommit: {run.commit or 'none'}\n"
                          f"run: {run.run_id}\nat: {run.created_utc}"),
            })
    return out


def bmf(runs: list[Run]) -> dict[str, Any]:
    """Bencher Metric Format: latency in nanoseconds with the point's interval as bounds."""
    return {bench_name(run, key): {"latency": {"value": p.value_s * 1e9,
                                               "lower_value": p.low_s * 1e9,
                                               "upper_value": p.high_s * 1e9}}
            for run in runs for key, p in run.points.items()}


def _machine_info(run: Run) -> dict[str, Any]:
    fp = run.file.fingerprint
    return {
        "node": run.machine, "processor": fp.get("cpu_model"), "machine": None,
        "python_implementation": "CPython", "python_version": fp.get("versions.python"),
        "system": None, "release": None,
        "cpu": {"brand_raw": fp.get("cpu_model"), "count": fp.get("cpu_count")},
        # the fields `linreg-bench compare` reads from pytest-benchmark files (tests/benchmarks)
        "torch_version": fp.get("versions.torch"), "onnxruntime_version": fp.get("versions.onnxruntime"),
        "onnx_version": fp.get("versions.onnx"), "numpy_version": fp.get("versions.numpy"),
        "cuda_version": fp.get("cuda_version"), "gpu_name": fp.get("gpu_name"),
        "torch_threads": fp.get("threads.torch"), "ort_intra_op_threads": fp.get("threads.onnxruntime"),
        "allocator": fp.get("allocator"),
    }


def pytest_benchmark(runs: list[Run]) -> dict[str, Any]:
    """One machine's newest run as a pytest-benchmark --benchmark-json document."""
    try:
        from pytest_benchmark import __version__
        from pytest_benchmark.stats import Stats
    except ImportError:
        raise LinregError("--export pytest-benchmark needs the pytest-benchmark package "
                          "(pip install -c constraints.txt pytest-benchmark)") from None
    if len(runs) != 1:
        raise LinregError("--export pytest-benchmark writes one machine per file (pytest-benchmark "
                          "has one machine_info); give --machine NAME")
    run = runs[0]
    benchmarks = []
    for key, p in run.points.items():
        stats = Stats()
        for t in p.samples_s:
            stats.update(t)
        entry = run.file.entries[key]
        phase, runtime, device, size = (run.labels[key].split("/") + ["", "", "", ""])[:4]
        benchmarks.append({
            "group": f"{phase}/{runtime}", "name": run.labels[key], "fullname": run.labels[key],
            "params": None, "param": None,
            "extra_info": {"phase": phase, "runtime": runtime, "device": device,
                           "batch_size": int(size) if size.isdigit() else size,
                           "value_source": p.source, "run_id": run.run_id, "n_raw": len(entry.times_s)},
            "options": {"disable_gc": True, "timer": "perf_counter", "min_rounds": len(p.samples_s),
                        "max_time": None, "min_time": None, "warmup": True},
            "stats": {**stats.as_dict(), "data": list(p.samples_s), "iterations": p.calls_per_sample},
        })
    return {"machine_info": _machine_info(run),
            "commit_info": {"id": run.commit or None, "dirty": run.dirty, "project": "linreg-bench",
                            "branch": None, "time": None, "author_time": None},
            "benchmarks": benchmarks,
            "datetime": run.created_utc.replace("Z", "+00:00"), "version": __version__}


def export(history: History, fmt: str, machine: str | None = None) -> Any:
    """The document of `fmt` (one of FORMATS) for the newest runs."""
    runs = selected_runs(history, machine)
    if fmt == "github-action-benchmark":
        return github_action_benchmark(runs)
    if fmt == "bmf":
        return bmf(runs)
    if fmt == "pytest-benchmark":
        return pytest_benchmark(runs)
    raise LinregError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
