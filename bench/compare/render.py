"""`compare` output: a fixed-width text table, a Markdown table for PR comments, JSON for machines."""
from __future__ import annotations

import json
import math
from typing import Any

from bench.compare.comparison import Comparison, Row
from bench.compare.files import Entry
from bench.compare.memory import memory_lines
from bench.engine.units import format_duration


def _cells(row: Row) -> list[str]:
    s = row.stats
    ratio = "-" if s is None or not math.isfinite(s.ratio) else f"{s.ratio:.3f}"
    ci = "-" if s is None or not math.isfinite(s.ci_low) else f"[{s.ci_low:.3f}, {s.ci_high:.3f}]"
    p = "-" if s is None or not math.isfinite(s.p_value) else f"{s.p_value:.2g}"
    return [
        row.label,
        format_duration(row.base.median_s, none="-") if row.base else "-",
        format_duration(row.new.median_s, none="-") if row.new else "-",
        row.figure or "-", ratio, ci, p, row.verdict, row.note,
    ]


# The medians are the raw samples' (times); the ratio, interval and p-value are of the figure
# named in "ratio of": the draws' host-normalised ratios, the draws' medians, or raw samples.
HEADERS = ["measurement", "BASE median", "NEW median", "ratio of", "NEW/BASE", "95% CI", "p (MWU)",
           "verdict", "note"]
VERDICT_COLUMN = HEADERS.index("verdict")


def _split_rows(c: Comparison) -> tuple[list[Row], dict[str, int]]:
    """Rows worth a line each, and {reason: count} of those skipped alike in both files.

    A run without a GPU skips dozens of cuda entries for the same reason; one line says it.
    A row skipped on one side only stays in the table: coverage was gained or lost there.
    """
    shown: list[Row] = []
    both: dict[str, int] = {}
    for r in c.rows:
        if (r.verdict == "skipped" and r.base is not None and r.new is not None
                and r.base.skip_reason and r.base.skip_reason == r.new.skip_reason):
            both[r.base.skip_reason] = both.get(r.base.skip_reason, 0) + 1
        else:
            shown.append(r)
    return shown, both


def _skipped_lines(both: dict[str, int]) -> list[str]:
    if not both:
        return []
    total = sum(both.values())
    return [f"skipped in both ({total}): " + "; ".join(
        f"{reason} ({count})" for reason, count in sorted(both.items(), key=lambda kv: -kv[1]))]


def _summary_lines(c: Comparison) -> list[str]:
    if c.gate.metric == "instructions":
        lines = [f"gate: {c.gate.label}; BASE/NEW median: wall time, reported beside and not gated;"
                 " NEW/BASE: instructions per call (Callgrind), its interval: the repeats' range"]
    else:
        lines = [f"gate: {c.gate.label}; BASE/NEW median: the raw samples' medians; NEW/BASE, its"
                 " interval and p: of the figure in 'ratio of' (host-normalised ratios and draw"
                 " medians: one value per draw, processes x rounds)"]
    if c.regressions:
        lines.append(f"REGRESSED ({len(c.regressions)}): " + ", ".join(
            f"{r.label} ({r.verdict})" for r in c.regressions))
    else:
        lines.append("no significant regression")
    unresolved = [r for r in c.rows if r.verdict == "unresolved"]
    if unresolved:  # not a failure, and not a pass either: say which, and what would tell
        lines.append(f"UNRESOLVED ({len(unresolved)}): no change shown and none ruled out at"
                     f" {c.gate.threshold:.0%}, the interval reaches past it (more processes or"
                     " rounds would tell): " + ", ".join(
                         f"{r.label} ({r.stats.ratio:.3f}x [{r.stats.ci_low:.3f}, {r.stats.ci_high:.3f}])"
                         if r.stats else r.label for r in unresolved))
    return lines


def render_text(c: Comparison) -> str:
    shown, both = _split_rows(c)
    rows = [HEADERS] + [_cells(r) for r in shown]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    out = [f"BASE: {c.base.path}" + (f" ({c.base.revision[:12]})" if c.base.revision else ""),
           f"NEW:  {c.new.path}" + (f" ({c.new.revision[:12]})" if c.new.revision else "")]
    out += [f"WARNING: {w}" for w in c.warnings]
    for i, r in enumerate(rows):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out += _skipped_lines(both)
    out += memory_lines(c.memory)
    out += _summary_lines(c)
    return "\n".join(out) + "\n"


def render_markdown(c: Comparison) -> str:
    out = [f"**linreg-bench compare**: `{c.base.path}` → `{c.new.path}`", ""]
    out += [f"> ⚠️ **WARNING:** {w}" for w in c.warnings]
    if c.warnings:
        out.append("")
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("|" + "|".join("---" for _ in HEADERS) + "|")
    shown, both = _split_rows(c)
    regressions = c.regressions
    for r in shown:
        cells = [x.replace("|", "\\|") for x in _cells(r)]
        if r in regressions:
            cells[VERDICT_COLUMN] = f"**{cells[VERDICT_COLUMN]}**"
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [f"{line}  " for line in _skipped_lines(both) + memory_lines(c.memory) + _summary_lines(c)]
    return "\n".join(out) + "\n"


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def to_json(c: Comparison) -> dict[str, Any]:
    def entry(e: Entry | None) -> dict[str, Any] | None:
        if e is None:
            return None
        counts = e.counts.repeats_per_call if e.counts and e.counts.counted else None
        return {"median_s": _num(e.median_s), "estimate_s": e.estimate_s, "n_samples": len(e.times_s),
                **({"instructions_per_call": list(counts)} if counts else {}),
                "n_draws": len(e.draws_s), "skip_reason": e.skip_reason,
                "parity_passed": e.parity_passed}
    return {
        "base": {"path": c.base.path, "format": c.base.format, "revision": c.base.revision},
        "new": {"path": c.new.path, "format": c.new.format, "revision": c.new.revision},
        "gate": {"metric": c.gate.metric, "field": "median", "threshold": c.gate.threshold,
                 "alpha": _num(c.gate.alpha),
                 "host_alpha": _num(getattr(c.gate, "host_alpha", None) or c.gate.alpha)},
        "environment_differs": bool(c.env_diffs),
        "environment_diffs": [{"key": k, "base": b, "new": n} for k, b, n in c.env_diffs],
        "warnings": list(c.warnings),
        "measurements": [
            {
                "key": r.key, "label": r.label, "verdict": r.verdict, "note": r.note,
                "base": entry(r.base), "new": entry(r.new),
                "figure": r.figure or None,
                "base_value": _num(r.values[0]) if r.figure else None,
                "new_value": _num(r.values[1]) if r.figure else None,
                "ratio": _num(r.stats.ratio) if r.stats else None,
                "ci_low": _num(r.stats.ci_low) if r.stats else None,
                "ci_high": _num(r.stats.ci_high) if r.stats else None,
                "p_value": _num(r.stats.p_value) if r.stats else None,
            }
            for r in c.rows
        ],
        "regressions": [r.label for r in c.regressions],
        "exit_code": c.exit_code,
        **({"meta": c.meta} if c.meta else {}),
        **({"memory_changes": [m.to_json() for m in c.memory]} if c.memory else {}),
    }


def render_json(c: Comparison) -> str:
    return json.dumps(to_json(c), indent=2, default=str) + "\n"
