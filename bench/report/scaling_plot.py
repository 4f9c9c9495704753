"""ddp_scaling.png: epoch time and scaling efficiency against world size, one line per N.

Drawn from a results document alone (like bench.report.plots), with matplotlib's Agg backend
imported inside the function so importing this module stays cheap. A report writer: a run
without data-parallel records draws nothing (and removes a stale figure).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.engine.measurement import percentile
from bench.engine.units import format_duration, format_size
from bench.report.format import SCALING_PNG
from bench.report.scaling import DDP_RUNTIME
from linreg.files import atomic_path


def scaling_series(entries: list[dict[str, Any]]) -> dict[tuple[int, str], list[tuple[int, float, float, float, float | None]]]:
    """{(N, device): [(world_size, p25_s, median_s, p75_s, efficiency), ...]} of measured ddp entries."""
    out: dict[tuple[int, str], list[tuple[int, float, float, float, float | None]]] = {}
    for e in entries:
        if e.get("runtime") != DDP_RUNTIME or "skip_reason" in e or not e.get("times_s"):
            continue
        s = sorted(float(t) for t in e["times_s"])
        point = (int(e["world_size"]), percentile(s, 25), percentile(s, 50), percentile(s, 75),
                 e.get("scaling_efficiency"))
        out.setdefault((int(e["batch_size"]), e["device"]), []).append(point)
    return {k: sorted(out[k]) for k in sorted(out)}


def write_scaling_plot(results: dict[str, Any], out_dir: str | Path) -> Path | None:
    """Write the figure if any ddp entry was measured (else remove a stale one); return its path."""
    path = Path(out_dir) / SCALING_PNG
    path.unlink(missing_ok=True)
    data = scaling_series(results.get("measurements", []))
    if not data:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(12, 5))
    try:
        world_sizes = sorted({k for points in data.values() for k, *_ in points})
        for (n, device), points in data.items():
            ks = [p[0] for p in points]
            med = [p[2] for p in points]
            err = [[p[2] - p[1] for p in points], [p[3] - p[2] for p in points]]
            label = f"N={format_size(n)} ({device})"
            ax_t.errorbar(ks, med, yerr=err, marker="o", capsize=3, label=label)
            eff = [(p[0], p[4]) for p in points if p[4] is not None]
            if eff:
                ax_e.plot([k for k, _ in eff], [v for _, v in eff], marker="s", label=label)
        ax_e.axhline(1.0, color="0.5", linestyle=":", label="ideal (1.0)")
        ax_t.set_title("Time per epoch (median of the slowest rank, bars: IQR)")
        ax_t.set_ylabel("time per epoch")
        ax_t.set_yscale("log")
        ax_t.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # a decade or less
        ax_t.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))
        ax_t.yaxis.set_minor_formatter(NullFormatter())
        ax_e.set_title("Scaling efficiency: time(1) / (k x time(k))")
        ax_e.set_ylabel("efficiency")
        ax_e.set_ylim(bottom=0)
        for ax in (ax_t, ax_e):
            ax.set_xlabel("world size k (ranks)")
            ax.set_xticks(world_sizes)
            ax.grid(True, alpha=0.4)
            ax.legend(fontsize=9)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
