"""The three benchmark figures, drawn from a results document with matplotlib's Agg backend.

Log-log axes, because sizes span seven decades; error bars span the IQR (p25..p75 of the raw
samples), the same spread the report prints. Skipped entries have no samples and are not drawn;
the report lists them. matplotlib is imported inside `write_plots` so `import bench.plots`
(which the report does for the file names) stays cheap.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.floors import device_bandwidth
from bench.measurement import percentile
from linreg.files import atomic_path

LATENCY_PNG = "inference_latency.png"
THROUGHPUT_PNG = "inference_throughput.png"
TRAIN_PNG = "train_epoch.png"
PLOT_FILES = (LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG)

BYTES_PER_SAMPLE = 8  # one float32 read (x) and one written (y) per sample: the traffic floor
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
# Display order; both spellings of the compiled variants are known (the engine writes torch_compile).
INFERENCE_ORDER = ("eager", "inference_mode", "torchscript", "exported_program", "onnxruntime",
                   "torch_compile", "compile")
TRAIN_ORDER = ("eager", "fused", "torch_compile", "compile", "cuda_graph", "cuda_graphs")


def runtime_rank(runtime: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Known runtimes in their canonical order, then any others alphabetically."""
    return (order.index(runtime), "") if runtime in order else (len(order), runtime)


def device_rank(device: str) -> tuple[int, str]:
    return (0 if device == "cpu" else 1, device)


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
        out.setdefault((e["runtime"], e["device"]), []).append((int(e["batch_size"]), p25, median, p75))
    keys = sorted(out, key=lambda k: (device_rank(k[1]), runtime_rank(k[0], order)))
    return {k: sorted(out[k]) for k in keys}


def _compact(label: str) -> str:
    """Tick labels without padding zeros: "10.0 ms" -> "10 ms", "2.50 µs" -> "2.5 µs"."""
    return re.sub(r"^(-?\d+)\.(\d*?)0*(?=\D|$)", lambda m: m[1] + ("." + m[2] if m[2] else ""), label)


def write_plots(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the latency, throughput and training figures that have data; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from bench.report import format_duration, format_rate

    out = Path(out_dir)
    for name in (LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG):  # a plot without data this run must not
        (out / name).unlink(missing_ok=True)              # survive from an earlier one
    entries = results.get("measurements", [])
    floors = results.get("floors")
    seconds_axis = FuncFormatter(lambda v, _pos: _compact(format_duration(v)))
    rate_axis = FuncFormatter(lambda v, _pos: _compact(format_rate(v)))
    written: list[Path] = []

    def figure(data, title, xlabel, ylabel, y_of, floor_of, floor_name, formatter, path):
        fig, ax = plt.subplots(figsize=(10, 6))
        try:
            xs_all = [b for points in data.values() for b, *_ in points]
            for i, ((runtime, device), points) in enumerate(data.items()):
                xs = [b for b, *_ in points]
                ys, lo, hi = zip(*(y_of(b, p25, med, p75) for b, p25, med, p75 in points))
                ax.errorbar(
                    xs, ys, yerr=[[y - a for y, a in zip(ys, lo)], [b - y for y, b in zip(ys, hi)]],
                    label=f"{runtime} ({device})", marker=MARKERS[i % len(MARKERS)],
                    linestyle="-" if device == "cpu" else "--", capsize=3, markersize=6,
                )
            ys_all = [v for points in data.values() for b, *q in points for v in y_of(b, *q) if v > 0]
            # One floor per device that has one, drawn only where that device has data: a CPU
            # copy floor says nothing about a GPU's results, and vice versa.
            devices = sorted({device for _, device in data}, key=device_rank)
            for j, device in enumerate(devices):
                bandwidth = device_bandwidth(floors, device)
                if not bandwidth or floor_of is None:
                    continue
                lo_x, hi_x = min(xs_all), max(xs_all)
                ax.plot([lo_x, hi_x], [floor_of(lo_x, bandwidth), floor_of(hi_x, bandwidth)],
                        color="0.45" if device == "cpu" else "0.25", linestyle=":" if j == 0 else "-.",
                        linewidth=1.5, label=f"{floor_name}, {device} "
                        f"({BYTES_PER_SAMPLE} B/sample at {bandwidth / 1e9:.3g} GB/s)")
            # The axes follow the data; the floor line is clipped, not allowed to stretch them.
            ax.set_ylim(min(ys_all) / 2, max(ys_all) * 2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(formatter)
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="major", alpha=0.4)
            ax.grid(True, which="minor", alpha=0.12)
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9)
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        finally:
            plt.close(fig)
        written.append(path)

    inference = series(entries, "inference", INFERENCE_ORDER)
    if inference:
        figure(
            inference, "Inference latency per call (median, bars: IQR)", "batch size (samples)",
            "latency per call", lambda b, p25, med, p75: (med, p25, p75),
            lambda b, bw: BYTES_PER_SAMPLE * b / bw, "copy-bandwidth floor",
            seconds_axis, out / LATENCY_PNG,
        )
        # Throughput inverts time: the slow quartile (p75) is the low end of the bar.
        figure(
            inference, "Inference throughput (median, bars: IQR)", "batch size (samples)",
            "throughput (samples/s)", lambda b, p25, med, p75: (b / med, b / p75, b / p25),
            lambda b, bw: bw / BYTES_PER_SAMPLE, "copy-bandwidth ceiling",
            rate_axis, out / THROUGHPUT_PNG,
        )
    train = series(entries, "train_epoch", TRAIN_ORDER)
    if train:
        figure(
            train, "Training: time per epoch (median, bars: IQR)", "N (training samples)",
            "time per epoch", lambda b, p25, med, p75: (med, p25, p75),
            lambda n, bw: BYTES_PER_SAMPLE * n / bw, "copy-bandwidth floor",
            seconds_axis, out / TRAIN_PNG,
        )
    return written
