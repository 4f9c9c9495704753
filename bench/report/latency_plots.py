"""The latency pictures: per-request percentiles against batch size, the batch-1 CDF, and the
server's p99 against offered QPS (`loadgen --find-peak`), with the bound drawn.

Drawn from stored records only (results.json's `latency_s` / `latency_cdf_s`, loadgen.json's
curve); matplotlib is imported when drawing, so importing the report package stays cheap.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.engine.units import format_duration
from bench.report.format import CDF_PNG, INFERENCE_ORDER, LATENCY_PLOT_FILES, PERCENTILES_PNG, device_rank, runtime_rank
from linreg.files import atomic_path

PEAK_PNG = "peak_curve.png"
SHOWN = (("p50", "-", "o"), ("p99", "--", "s"), ("p999", ":", "^"))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, ax: Any, path: Path, log_x: bool = True) -> Path:
    from matplotlib.ticker import FuncFormatter

    if log_x:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))
    ax.grid(True, which="major", alpha=0.4)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return path


def latency_series(entries: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """{(runtime, device): inference entries with per-call latency, by batch size}, display order."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        if e.get("phase") == "inference" and isinstance(e.get("latency_s"), dict) \
                and (e["latency_s"].get("p50") or 0) > 0:
            out.setdefault((e["runtime"], e["device"]), []).append(e)
    keys = sorted(out, key=lambda k: (device_rank(k[1]), runtime_rank(k[0], INFERENCE_ORDER)))
    return {k: sorted(out[k], key=lambda e: e["batch_size"]) for k in keys}


def write_latency_plots(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """The percentile-vs-batch and batch-1 CDF pictures of a results document (a report writer)."""
    out = Path(out_dir)
    for name in LATENCY_PLOT_FILES:  # a picture without data this run must not survive
        (out / name).unlink(missing_ok=True)
    data = latency_series(results.get("measurements", []))
    if not data:
        return []
    written = [plot_percentiles(data, out / PERCENTILES_PNG)]
    cdf = plot_cdf(data, out / CDF_PNG)
    return written + ([cdf] if cdf else [])


def plot_percentiles(data: dict[tuple[str, str], list[dict[str, Any]]], path: Path) -> Path:
    """Small multiples: one panel per runtime and device, its p50/p99/p99.9 against batch size,
    on shared axes (18 lines in one panel could not be read)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    plt = _pyplot()
    columns = min(3, len(data))
    rows = -(-len(data) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), sharex=True,
                             sharey=True, squeeze=False)
    try:
        for ax, (i, ((runtime, device), entries)) in zip(axes.flat, enumerate(data.items())):
            for key, style, marker in SHOWN:
                points = [(e["batch_size"], e["latency_s"].get(key)) for e in entries]
                points = [(b, v) for b, v in points if v]
                if points:
                    ax.plot(*zip(*points), linestyle=style, marker=marker, color=f"C{i % 10}", markersize=4)
            ax.set_title(f"{runtime} ({device})", fontsize=10)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))
            ax.grid(True, which="major", alpha=0.4)
        for ax in list(axes.flat)[len(data):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("batch size (samples)")
        for ax in axes[:, 0]:
            ax.set_ylabel("latency per request")
        fig.legend([Line2D([], [], color="0.3", linestyle=style, marker=marker) for _, style, marker in SHOWN],
                   [key.replace("p999", "p99.9") for key, _, _ in SHOWN], loc="upper right", ncol=3)
        fig.suptitle("Per-request latency (single calls) against batch size, one panel per runtime",
                     x=0.02, ha="left")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        return path
    finally:
        plt.close(fig)


def plot_cdf(data: dict[tuple[str, str], list[dict[str, Any]]], path: Path) -> Path | None:
    """The batch-1 tail as steps between the stored quantiles: a straight line between two of them
    decades apart would draw requests that were never seen."""
    plt = _pyplot()
    curves = [(k, e["latency_cdf_s"]) for k, es in data.items() for e in es
              if e["batch_size"] == 1 and isinstance(e.get("latency_cdf_s"), dict) and e["latency_cdf_s"].get("s")]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(10, 6))
    try:
        for (runtime, device), cdf in curves:
            # x: latency; y: the fraction slower than the step's start, an upper bound up to the next
            ax.step(cdf["s"], [1.0 - q for q in cdf["q"]], where="post", marker=".", label=f"{runtime} ({device})")
        ax.set_title("Latency at batch 1: fraction of requests slower than x (1 - CDF, steps at the "
                     "stored quantiles)")
        ax.set_xlabel("latency per request")  # the ticks carry their unit (ns, µs, ms)
        ax.set_ylabel("fraction slower")
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.4)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        return path
    finally:
        plt.close(fig)


def plot_peak_curve(curve: list[dict[str, Any]], bound_s: float, path: Path) -> Path | None:
    """p50/p99/p99.9 against offered QPS, VALID points filled, the bound as a line."""
    points = [p for p in curve if isinstance(p.get("latency_s"), dict) and p["latency_s"].get("p99")]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 6))
    try:
        qps = [p["offered_qps"] for p in points]
        for key, style, marker in SHOWN:
            ax.plot(qps, [p["latency_s"].get(key) for p in points], linestyle=style, marker=marker,
                    color="C0" if key == "p99" else "0.5", label=key)
        bad = [p for p in points if not p["valid"]]
        if bad:
            ax.scatter([p["offered_qps"] for p in bad], [p["latency_s"]["p99"] for p in bad],
                       s=90, facecolors="none", edgecolors="C3", label="INVALID", zorder=3)
        ax.axhline(bound_s, color="C3", linestyle="-.", label=f"bound {format_duration(bound_s)} (p99)")
        ax.set_title("Server: latency against offered QPS (MLPerf LoadGen)")
        ax.set_xlabel("offered QPS (Poisson arrivals)")
        ax.set_ylabel("latency per query")
        return _save(fig, ax, path)
    finally:
        plt.close(fig)
