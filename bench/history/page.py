"""SITE/index.html: one self-contained page (inline style, no network), built from the history alone.

Sections: the machines; each machine's latest run against its previous one; the flagged steps,
newest first; the commit axis with its failure records; one trend figure per measurement,
grouped by phase and runtime.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from bench.engine.units import format_duration
from bench.history.analysis import LatestTable, SharedCommit
from bench.history.runs import Point, Run
from bench.history.steps import Judgement, Step

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.slower{color:#c0392b;font-weight:bold}.faster{color:#1e8449;font-weight:bold}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em 1em}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid img{width:460px;border:1px solid #eee}
code{font-size:90%}
"""
# Counts the figures the browser really decoded (the headless browser test reads it back).
SCRIPT = """window.addEventListener('load',function(){var i=document.images,n=0;
for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0){n++}}
document.body.setAttribute('data-figures-loaded',n);
document.body.setAttribute('data-figures-total',i.length);});"""


@dataclass(frozen=True)
class Figure:
    phase: str
    runtime: str
    label: str
    file: str                     # relative to SITE


@dataclass(frozen=True)
class Page:
    store: str
    generated_utc: str
    gate: str
    runs: tuple[Run, ...]
    machines: dict[str, dict[str, Any]]
    latest: tuple[LatestTable, ...]
    shared: SharedCommit | None
    steps: tuple[Step, ...]
    regressions: tuple[Step, ...]
    figures: tuple[Figure, ...]
    problems: tuple[str, ...]
    commits: tuple[str, ...] = ()   # the x axis of every figure, oldest first (ancestry where known)


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def with_interval(p: Point) -> str:
    return f"{format_duration(p.value_s)} [{format_duration(p.low_s)}, {format_duration(p.high_s)}]"


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def td(x: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{esc(x)}</td>' if cls else f"<td>{esc(x)}</td>"


def _machines(page: Page) -> str:
    rows = []
    for machine, info in sorted(page.machines.items()):
        mine = sorted((r for r in page.runs if r.machine == machine), key=lambda r: r.created_utc)
        if not mine:
            continue
        newest = mine[-1]
        env = newest.file.fingerprint
        rows.append([td(machine), td(info.get("cpu_model") or env.get("cpu_model")),
                     td(info.get("gpu_name") or env.get("gpu_name") or "–"), td(len(mine), "num"),
                     td(len({r.commit for r in mine}), "num"), td(mine[0].created_utc),
                     td(newest.created_utc), td(newest.short_commit),
                     td(f"torch {env.get('versions.torch', '?')}, threads {env.get('threads.torch', '?')}")])
    return _table(["machine", "CPU", "GPU", "runs", "commits", "first run", "latest run",
                   "latest commit", "fingerprint"], rows)


def _verdict_cell(j: Judgement) -> str:
    return td(j.verdict, j.verdict if j.verdict in ("slower", "faster") else "")


def _stats_cells(j: Judgement) -> list[str]:
    s = j.stats
    ci = f"[{s.ci_low:.3f}, {s.ci_high:.3f}]" if s else "within threshold"
    p = f"{s.p_value:.2g}" if s and math.isfinite(s.p_value) else "–"
    return [td(f"{j.ratio:.3f}", "num"), td(ci), td(p, "num"), _verdict_cell(j)]


def _latest(page: Page) -> str:
    parts = []
    for t in page.latest:
        changed = [r for r in t.rows if r.judgement.verdict != "unchanged"]
        rows = [[td(r.label), td(with_interval(r.previous)), td(with_interval(r.latest)),
                 *_stats_cells(r.judgement)] for r in changed]
        header = ["measurement", f"previous ({t.previous.short_commit})",
                  f"latest ({t.latest.short_commit})", "latest/previous", "95% CI", "p (MWU)", "verdict"]
        parts.append(f"<h3>{esc(t.machine)}: {esc(t.latest.created_utc)} against "
                     f"{esc(t.previous.created_utc)}</h3>")
        parts.append(f"<p>{len(t.rows) - len(changed)} of {len(t.rows)} measurements unchanged"
                     f"{'; the others:' if changed else '.'}</p>")
        if changed:
            parts.append(_table(header, rows, "latest"))
    return "\n".join(parts) or "<p>No machine has two runs yet.</p>"


def _shared(page: Page) -> str:
    shared = page.shared
    if shared is None:
        return "<p>No commit was measured on two machines yet.</p>"
    rows = []
    wins: dict[str, int] = {}
    for key in shared.keys:
        present = [(r.points[key].value_s, r.machine) for r in shared.runs if key in r.points]
        label = next(r.labels[key] for r in shared.runs if key in r.labels)
        fastest = min(present)[1] if len(present) > 1 else "–"
        wins[fastest] = wins.get(fastest, 0) + 1
        rows.append([td(label), *(td(with_interval(r.points[key])) if key in r.points else td("–")
                                  for r in shared.runs), td(fastest)])
    tally = ", ".join(f"{m} in {n}" for m, n in sorted(wins.items(), key=lambda kv: -kv[1]) if m != "–")
    table = _table(["measurement", *(r.machine for r in shared.runs), "fastest"], rows, "shared")
    return (f"<p>Commit <code>{esc(shared.commit[:10] or 'none')}</code>, each machine's newest run "
            "of it: the same code, different hardware.</p>"
            f"<details{' open' if len(rows) <= 20 else ''}><summary>{len(rows)} measurements; "
            f"fastest: {esc(tally or '–')}</summary>{table}</details>")


def _steps(page: Page) -> str:
    if not page.steps:
        return '<p id="no-steps">No flagged step.</p>'
    flagged = {id(s) for s in page.regressions}
    rows = [[td(s.machine), td(s.label), td(f"{s.base.short_commit} → {s.new.short_commit}"),
             td(s.new.created_utc), *_stats_cells(s.judgement),
             td(("REGRESSION in the newest run. " if id(s) in flagged else "")
                + (f"environment changed: {s.env_change}" if s.env_change else ""))]
            for s in page.steps]
    return _table(["machine", "measurement", "commits", "at", "ratio", "95% CI", "p (MWU)",
                   "verdict", "note"], rows, "steps")


def _commits(page: Page) -> str:
    """The figures' x axis, one row per commit: its runs, or the failure records that stand
    for it (asv: a failure is a result, not a gap)."""
    by_commit: dict[str, list[Run]] = {}
    for run in page.runs:
        by_commit.setdefault(run.commit, []).append(run)
    rows = []
    for i, commit in enumerate(page.commits):
        runs = by_commit.get(commit, [])
        failed = [r for r in runs if r.failure]
        subject = next((r.subject for r in runs if r.subject), "")
        state = "; ".join(f"{r.machine}: {r.failure}" for r in failed)
        rows.append([td(i, "num"), td(commit[:10] or "no commit"), td(subject[:90]),
                     td(len(runs) - len(failed), "num"),
                     td(f"FAILED {state}" if failed else "", "slower" if failed else "")])
    failures = sum(1 for r in page.runs if r.failure)
    table = _table(["#", "commit", "subject", "runs", "failure records"], rows, "commits")
    return (f"<p>{len(page.commits)} commits, oldest first; {failures} failure record(s).</p>"
            f"<details{' open' if failures else ''}><summary>the commit axis</summary>{table}</details>")


def _figures(page: Page) -> str:
    parts: list[str] = []
    phase = runtime = None
    for f in page.figures:
        if f.phase != phase:
            if runtime is not None:
                parts.append("</div>")
            phase, runtime = f.phase, None
            parts.append(f"<h3>{esc(phase)}</h3>")
        if f.runtime != runtime:
            if runtime is not None:
                parts.append("</div>")
            runtime = f.runtime
            parts.append(f'<h4>{esc(phase)} / {esc(runtime)}</h4><div class="grid">')
        parts.append(f'<img src="{esc(f.file)}" alt="{esc(f.label)}" title="{esc(f.label)}">')
    if runtime is not None:
        parts.append("</div>")
    return "\n".join(parts)


def render_page(page: Page) -> str:
    problems = ""
    if page.problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in page.problems)
        problems = (f'<div class="warn" id="problems"><b>Skipped {len(page.problems)} file(s):</b>'
                    f"<ul>{items}</ul></div>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>linreg-bench history</title>
<style>{STYLE}</style><script>{SCRIPT}</script></head><body>
<h1>linreg-bench history</h1>
<p>Store <code>{esc(page.store)}</code>: {len(page.runs)} runs on {len(page.machines)} machine(s),
built {esc(page.generated_utc)}. Steps are flagged by <code>compare</code>'s rule: {esc(page.gate)}.
Points show the time each run measured (its fast state: the first quartile of its draws'
medians; the raw median for runs without draws), with its interval;
hollow points changed fingerprint, crosses are interrupted runs.</p>
{problems}
<h2 id="machines">Machines</h2>
{_machines(page)}
<h2 id="latest">Latest run against the previous one</h2>
{_latest(page)}
<h2 id="steps">Flagged steps ({len(page.steps)})</h2>
{_steps(page)}
<h2 id="commits">Commits</h2>
{_commits(page)}
<h2 id="shared">Machines on the same commit</h2>
{_shared(page)}
<h2 id="trends">Trends ({len(page.figures)} measurements)</h2>
{_figures(page)}
</body></html>
"""
