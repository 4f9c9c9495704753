"""The three benchmark figures, drawn from a results document with matplotlib's Agg backend.

Log-log axes, because sizes span seven decades; error bars span the IQR (p25..p75 of the raw
samples), the same spread the report prints. Skipped entries have no samples and are not drawn;
the report lists them. matplotlib is imported inside `write_plots` so importing the report
package stays cheap.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench.engine.floors import device_bandwidth
from bench.engine.measurement import entry_runtime, percentile
from bench.engine.units import format_duration, format_rate
from bench.report.format import (BYTES_PER_SAMPLE, INFERENCE_ORDER, LATENCY_PNG, PLOT_FILES,
                                 THROUGHPUT_PNG, TRAIN_ORDER, TRAIN_PNG, device_rank, runtime_rank)
from linreg.files import atomic_path

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
Series = dict[tuple[str, str], list[tuple[int, float, float, float]]]


def series(
    entries: Iterable[dict[str, Any]], phase: str, order: tuple[str, ...]
) -> dict[tuple[str, str], list[tuple[int, float, float, float]]]:
    """{(runtime, device): [(batch_size, p25_s, median_s, p75_s), ...]} of measured entries, sorted."""
    out: dict[tuple[str, str], list[tuple[int, float, float, float]]] = {}
    for e in entries:
        if e.get("phase") != phase or "skip_reason" in e or not e.get("times_s"):
            continue
        s = sorted(float(t) for t in e["times_s"])
        p25, median, p75 = percentile(s, 25), percentile(s, 50), percentile(s, 75)
        if median <= 0:  # nothing a log axis can show
            continue
        out.setdefault((entry_runtime(e), e["device"]), []).append((int(e["batch_size"]), p25, median, p75))
    keys = sorted(out, key=lambda k: (device_rank(k[1]), runtime_rank(k[0], order)))
    return {k: sorted(out[k]) for k in keys}


def _compact(label: str) -> str:
    """Tick labels without padding zeros: "10.0 ms" -> "10 ms", "2.50 µs" -> "2.5 µs"."""
    return re.sub(r"^(-?\d+)\.(\d*?)0*(?=\D|$)", lambda m: m[1] + ("." + m[2] if m[2] else ""), label)


@dataclass(frozen=True)
class Figure:
    """One figure: what it plots (y and its IQR bar from a point) and which floor it draws."""

    file: str
    title: str
    xlabel: str
    ylabel: str
    y_of: Callable[[int, float, float, float], tuple[float, float, float]]  # (y, low, high)
    floor_of: Callable[[int, float], float]  # (size, bandwidth) -> the floor's y
    floor_name: str
    rate: bool = False  # the y axis is a rate (samples/s), not a duration


# Throughput inverts time: the slow quartile (p75) is the low end of the bar.
FIGURES = {
    "inference": (
        Figure(LATENCY_PNG, "Inference latency per call (median, bars: IQR)", "batch size (samples)",
               "latency per call", lambda b, p25, med, p75: (med, p25, p75),
               lambda b, bw: BYTES_PER_SAMPLE * b / bw, "copy-bandwidth floor"),
        Figure(THROUGHPUT_PNG, "Inference throughput (median, bars: IQR)", "batch size (samples)",
               "throughput (samples/s)", lambda b, p25, med, p75: (b / med, b / p75, b / p25),
               lambda b, bw: bw / BYTES_PER_SAMPLE, "copy-bandwidth ceiling", rate=True),
    ),
    "train_epoch": (
        Figure(TRAIN_PNG, "Training: time per epoch (median, bars: IQR)", "N (training samples)",
               "time per epoch", lambda b, p25, med, p75: (med, p25, p75),
               lambda n, bw: BYTES_PER_SAMPLE * n / bw, "copy-bandwidth floor"),
    ),
}


def write_plots(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the latency, throughput and training figures that have data; return their paths."""
    out = Path(out_dir)
    for name in PLOT_FILES:  # a plot without data this run must not survive from an earlier one
        (out / name).unlink(missing_ok=True)
    entries = results.get("measurements", [])
    written: list[Path] = []
    for phase, order in (("inference", INFERENCE_ORDER), ("train_epoch", TRAIN_ORDER)):
        data = series(entries, phase, order)
        if data:
            for figure in FIGURES[phase]:
                written.append(_draw(figure, data, results.get("floors"), out / figure.file))
    return written


def _draw(figure: Figure, data: Series, floors: dict[str, Any] | None, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6))
    try:
        for i, ((runtime, device), points) in enumerate(data.items()):
            ys, lo, hi = zip(*(figure.y_of(*p) for p in points))
            ax.errorbar(
                [b for b, *_ in points], ys,
                yerr=[[y - a for y, a in zip(ys, lo)], [b - y for y, b in zip(ys, hi)]],
                label=f"{runtime} ({device})", marker=MARKERS[i % len(MARKERS)],
                linestyle="-" if device == "cpu" else "--", capsize=3, markersize=6,
            )
        _draw_floors(ax, figure, data, floors)
        ys_all = [v for points in data.values() for p in points for v in figure.y_of(*p) if v > 0]
        # The axes follow the data; the floor line is clipped, not allowed to stretch them.
        _style(ax, figure, min(ys_all) / 2, max(ys_all) * 2)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _draw_floors(ax: Any, figure: Figure, data: Series, floors: dict[str, Any] | None) -> None:
    """One floor per device that has one, drawn only where that device has data: a CPU copy
    floor says nothing about a GPU's results, and vice versa."""
    xs_all = [b for points in data.values() for b, *_ in points]
    lo_x, hi_x = min(xs_all), max(xs_all)
    devices = sorted({device for _, device in data}, key=device_rank)
    for j, device in enumerate(devices):
        bandwidth = device_bandwidth(floors, device)
        if not bandwidth:
            continue
        ax.plot([lo_x, hi_x], [figure.floor_of(lo_x, bandwidth), figure.floor_of(hi_x, bandwidth)],
                color="0.45" if device == "cpu" else "0.25", linestyle=":" if j == 0 else "-.",
                linewidth=1.5, label=f"{figure.floor_name}, {device} "
                f"({BYTES_PER_SAMPLE} B/sample at {bandwidth / 1e9:.3g} GB/s)")


def _style(ax: Any, figure: Figure, y_low: float, y_high: float) -> None:
    from matplotlib.ticker import FuncFormatter

    label = format_rate if figure.rate else format_duration
    ax.set_ylim(y_low, y_high)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _compact(label(v))))
    ax.set_title(figure.title)
    ax.set_xlabel(figure.xlabel)
    ax.set_ylabel(figure.ylabel)
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9)
