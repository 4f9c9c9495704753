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

from bench.engine.floors import floors_by_size
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
               lambda b, bw: BYTES_PER_SAMPLE * b / bw, "roofline floor"),
        Figure(THROUGHPUT_PNG, "Inference throughput (median, bars: IQR)", "batch size (samples)",
               "throughput (samples/s)", lambda b, p25, med, p75: (b / med, b / p75, b / p25),
               lambda b, bw: bw / BYTES_PER_SAMPLE, "roofline ceiling", rate=True),
    ),
    "train_epoch": (
        Figure(TRAIN_PNG, "Training: time per epoch (median, bars: IQR)", "N (training samples)",
               "time per epoch", lambda b, p25, med, p75: (med, p25, p75),
               lambda n, bw: BYTES_PER_SAMPLE * n / bw, "roofline floor"),
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
    """One roofline per device that has one, drawn only where that device has data (a CPU floor
    says nothing about a GPU's results), at the bandwidth each size is judged against: the one
    measured at that size where there is one (a call that fits a cache streams faster than DRAM),
    else the device's copy bandwidth. A point beyond it is ringed in red: it beat the measured
    bandwidth, so one of the two is wrong (the report's efficiency column says which sizes)."""
    devices = sorted({device for _, device in data}, key=device_rank)
    beyond: list[tuple[int, float]] = []
    for j, device in enumerate(devices):
        xs = sorted({b for (_, d), points in data.items() if d == device for b, *_ in points})
        by_size = floors_by_size(floors or {}, [device], xs)[device]
        line = [(x, figure.floor_of(x, by_size[str(x)])) for x in xs if str(x) in by_size]
        if not line:
            continue
        ax.plot(*zip(*line), color="0.45" if device == "cpu" else "0.25", linestyle=":" if j == 0 else "-.",
                linewidth=1.5, label=f"{figure.floor_name}, {device} ({BYTES_PER_SAMPLE} B/sample at the "
                f"bandwidth measured at each size, {min(by_size.values()) / 1e9:.3g}-"
                f"{max(by_size.values()) / 1e9:.3g} GB/s)")
        beyond += beyond_roofline(figure, {k: v for k, v in data.items() if k[1] == device}, dict(line))
    if beyond:
        ax.scatter(*zip(*beyond), s=160, facecolors="none", edgecolors="red", linewidths=1.5, zorder=4,
                   label=f"beyond the roofline ({len(beyond)}): faster than the measured bandwidth")


def beyond_roofline(figure: Figure, data: Series, bound: dict[int, float]) -> list[tuple[int, float]]:
    """(size, y) of the medians past the roofline: above a ceiling, or below a floor."""
    out = []
    for points in data.values():
        for p in points:
            y, limit = figure.y_of(*p)[0], bound.get(p[0])
            if limit is not None and (y > limit if figure.rate else y < limit):
                out.append((p[0], y))
    return out


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
