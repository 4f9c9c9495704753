"""Trend figures (matplotlib, SVG): one per measurement, the machines as series, over commits.

Each machine's points carry their interval, drawn as a band. A point whose fingerprint differs from its
machine's previous run is drawn hollow and the line is broken before it (other versions, threads
or allocator: not the same experiment). Flagged steps get a triangle: up slower, down faster.
Interrupted (partial) runs are crosses.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from bench.engine.units import format_duration
from bench.history.steps import Step
from bench.history.trends import Trend, TrendPoint

MAX_TICKS = 8
# Text as text (the page's font) and fixed ids: a third of the bytes, and the same store gives
# byte-identical figures.
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "linreg-bench-history"}


def slug(key: str) -> str:
    """A file name for a measurement key: inference/eager/cpu/1 -> inference-eager-cpu-1."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-") or "measurement"


def _segments(points: tuple[TrendPoint, ...]) -> list[list[TrendPoint]]:
    """Runs of points joined by a line: a fingerprint change starts a new segment."""
    segments: list[list[TrendPoint]] = []
    for tp in points:
        if not segments or tp.env_change:
            segments.append([])
        segments[-1].append(tp)
    return segments


def _draw_machine(ax, points: tuple[TrendPoint, ...], color: str, name: str) -> None:
    first = True
    for segment in _segments(points):
        x = [tp.commit_index for tp in segment]
        y = [tp.point.value_s for tp in segment]
        low = [tp.point.low_s for tp in segment]
        high = [tp.point.high_s for tp in segment]
        # the interval as a band: one path per segment, not one per point (page weight)
        ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
        ax.plot(x, y, color=color, lw=1.0, marker="o", ms=2.5, label=name if first else None)
        first = False
        changed = segment[0] if segment[0].env_change else None
        if changed is not None:
            ax.plot([changed.commit_index], [changed.point.value_s], "o", ms=7,
                    mfc="white", mec=color, mew=1.5, zorder=3)
        partial = [tp for tp in segment if tp.run.partial]
        if partial:
            ax.plot([tp.commit_index for tp in partial], [tp.point.value_s for tp in partial],
                    "x", color="black", ms=6, zorder=4)


def _draw_steps(ax, trend: Trend, steps: list[Step]) -> None:
    for step in steps:
        tp = next((p for p in trend.by_machine.get(step.machine, ()) if p.run is step.new), None)
        if tp is None:
            continue
        marker, color = ("^", "#c0392b") if step.slower else ("v", "#1e8449")
        ax.plot([tp.commit_index], [tp.point.value_s], marker, color=color, ms=9, zorder=5)


def render_trend(trend: Trend, steps: list[Step], commits: list[str], colors: dict[str, str],
                 path: Path, counts: bool = False) -> Path:
    """Write one trend figure as SVG to `path`: of times, or (`counts`) of instructions per call."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(SVG_RC):
        return _render(trend, steps, commits, colors, path, Figure, counts)


def _count_label(value: float) -> str:
    return f"{value / 1e6:.3g}M" if value >= 1e6 else f"{value / 1e3:.3g}k"


def _render(trend: Trend, steps: list[Step], commits: list[str], colors: dict[str, str],
            path: Path, figure_class, counts: bool = False) -> Path:
    from matplotlib.ticker import FuncFormatter

    fig = figure_class(figsize=(6.4, 2.6), dpi=72)
    ax = fig.add_subplot()
    for machine, points in trend.by_machine.items():
        _draw_machine(ax, points, colors[machine], machine)
    _draw_steps(ax, trend, steps)
    used = sorted({tp.commit_index for pts in trend.by_machine.values() for tp in pts})
    stride = max(1, math.ceil(len(used) / MAX_TICKS))
    ticks = used[::stride]
    ax.set_xticks(ticks, [commits[i][:7] or "none" for i in ticks], fontsize=7, rotation=30)
    unit = _count_label if counts else format_duration
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: unit(v)))
    ax.set_ylim(bottom=0)
    ax.set_title(trend.label + (" (instructions per call)" if counts else ""), fontsize=9, loc="left")
    ax.grid(True, alpha=0.3)
    # Fixed places for the legend (above the plot, right) and the margins: "best" and
    # tight_layout measure every artist and took a third of the site's build time.
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=min(4, len(trend.by_machine)),
              frameon=False, handlelength=1.5, borderaxespad=0.2)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.86, bottom=0.22)
    fig.savefig(path, format="svg", metadata={"Date": None})  # no date: same store, same bytes
    return path


def machine_colors(machines: list[str]) -> dict[str, str]:
    """A fixed colour per machine, the same in every figure."""
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#d62728")
    return {m: palette[i % len(palette)] for i, m in enumerate(sorted(set(machines)))}
