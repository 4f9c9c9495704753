"""The report outputs of a run, as a list of writers.

A writer takes (results document, output folder) and writes its files atomically. A new output
format (HTML, a JSON summary) is one module plus one line in WRITERS.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from bench.report.latency_plots import write_latency_plots
from bench.report.markdown import render_report, write_report
from bench.report.plots import write_plots
from bench.report.scaling_plot import write_scaling_plot

Writer = Callable[[dict[str, Any], Path], object]
WRITERS: tuple[Writer, ...] = (
    write_plots,   # first: report.md embeds the plots that exist
    write_scaling_plot,
    write_latency_plots,
    write_report,
)


def write_outputs(results: dict[str, Any], out: Path, writers: tuple[Writer, ...] = WRITERS) -> None:
    """Every report output of `results` into `out`, in order."""
    for write in writers:
        write(results, out)


__all__ = ["WRITERS", "Writer", "render_report", "write_outputs", "write_plots", "write_report"]
