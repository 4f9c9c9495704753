"""Comparing two runs: file adapters, significance, the gate, rendering, and the interleaved run."""
from __future__ import annotations

from bench.compare.comparison import Comparison, Row, compare_files, compare_paths
from bench.compare.files import BenchFile, CompareInputError, Entry, load_bench_file, results_bench_file
from bench.compare.gate import DEFAULT_ALPHA, DEFAULT_FAIL_ON, STABLE_HOST_ALPHA, MedianGate, Verdict
from bench.compare.render import render_json, render_markdown, render_text

__all__ = ["DEFAULT_ALPHA", "DEFAULT_FAIL_ON", "STABLE_HOST_ALPHA", "BenchFile", "CompareInputError", "Comparison", "Entry",
           "MedianGate", "Row", "Verdict", "compare_files", "compare_paths", "load_bench_file",
           "render_json", "render_markdown", "render_text", "results_bench_file"]
