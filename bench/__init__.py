"""Benchmarks of training and inference across devices, runtimes and sizes; stands on linreg and export.

The Python API: every name in __all__ is importable from `bench` itself (`from bench import
run_bench`). They are loaded on first use, so `import bench` stays light (no torch, no
matplotlib) until one is needed.
"""
from __future__ import annotations

from linreg.lazy import lazy_api

# public name -> "module:attribute"
_API = {
    "SuiteConfig": "bench.suite:SuiteConfig",           # what a bench run measures (sizes, runtimes, ...)
    "TimingConfig": "bench.engine.timing:TimingConfig",  # warmups, sample length, minimum samples
    "Artifacts": "bench.runtimes.base:Artifacts",       # a checkpoint and its export folder's files
    "run_bench": "bench.pipeline:bench",                # measure -> results.json/csv, plots, report.md
    "run_pipeline": "bench.pipeline:run_pipeline",      # train -> export -> bench, what `run` does
    "run_suite": "bench.suite:run_suite",               # the measurements alone, no files
    "load_results": "bench.store.results:load_results",
    "measurements_of": "bench.store.results:measurements_of",
    "render_report": "bench.report:render_report",
    "MedianGate": "bench.compare.gate:MedianGate",      # the regression gate: MedianGate.parse("median:10%")
    "compare_paths": "bench.compare.comparison:compare_paths",
    "compare_files": "bench.compare.comparison:compare_files",
    "render_text": "bench.compare.render:render_text",
    "render_markdown": "bench.compare.render:render_markdown",
    "render_json": "bench.compare.render:render_json",
    "runtime_names": "bench.runtimes:runtime_names",    # built-in runtimes and installed plug-ins
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_api("bench", _API, globals())
