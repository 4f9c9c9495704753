"""`history DIR --out SITE`: the static dashboard, built whole in a temporary folder, then swapped in.

SITE holds index.html and figures/*.svg, nothing else; it works from file:// with no network.
A folder that is neither empty nor a site built by this command is never replaced.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from bench.history.analysis import History, latest_tables, shared_commit
from bench.history.figures import machine_colors, render_trend, slug
from bench.history.page import Figure, Page, render_page
from export.publish import make_staging, publish_folder
from linreg.errors import LinregError
from linreg.destinations import check_output_tree

SITE_MARKER = ".linreg-bench-site"   # a site this command built: safe to replace
INDEX = "index.html"
FIGURES = "figures"


def check_site_target(out: Path) -> None:
    """Refuse to replace anything but nothing, an empty folder, or a site built by this command."""
    check_output_tree(out, "--out")  # a symlink would be swapped away, its target left behind
    if not out.exists():
        return
    if any(out.iterdir()) and not (out / SITE_MARKER).is_file():
        raise LinregError(f"--out {out} is a non-empty folder that is not a linreg-bench history "
                          f"site (no {SITE_MARKER}); refusing to replace it")


def _figures(history: History, folder: Path) -> list[Figure]:
    colors = machine_colors(list(history.store.machines) + [r.machine for r in history.store.runs])
    figures = []
    (folder / FIGURES).mkdir()
    for trend in history.trends:
        steps = [s for s in history.steps if s.key == trend.key]
        name = f"{FIGURES}/{slug(trend.key)}.svg"
        render_trend(trend, steps, history.commits, colors, folder / name)
        phase, runtime = (trend.label.split("/") + ["", ""])[:2]
        figures.append(Figure(phase, runtime, trend.label, name))
    for trend in history.count_trends:  # the second metric: lines of their own, never one axis
        steps = [s for s in history.count_steps if s.key == trend.key]
        name = f"{FIGURES}/{slug(trend.key)}-instructions.svg"
        render_trend(trend, steps, history.commits, colors, folder / name, counts=True)
        phase, runtime = (trend.label.split("/") + ["", ""])[:2]
        figures.append(Figure(f"{phase} (instructions per call)", runtime, trend.label, name))
    return figures


def build_site(history: History, out: Path) -> Path:
    """Write the dashboard of `history` to `out` (index.html + figures); returns index.html's path."""
    out = Path(out)
    check_site_target(out)
    tmp = make_staging(out)  # .SITE.PID.*.tmp; those of killed builds are removed first
    try:
        page = Page(
            store=str(history.store.root),
            generated_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            gate=history.gate.label, runs=history.store.runs,
            machines={m: history.store.machines.get(m, {})
                      for m in sorted({r.machine for r in history.store.runs})},
            latest=tuple(latest_tables(history)), shared=shared_commit(history), steps=tuple(history.steps),
            regressions=tuple(history.regressions + history.count_regressions), figures=tuple(_figures(history, tmp)),
            problems=history.store.problems, commits=tuple(history.commits))
        (tmp / INDEX).write_text(render_page(page), encoding="utf-8")
        (tmp / SITE_MARKER).write_text("built by linreg-bench history --out\n", encoding="utf-8")
        publish_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / INDEX


def page_weight(site: Path) -> int:
    """Bytes a browser loads for the page: index.html and every figure."""
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and p.name != SITE_MARKER)
