"""The report's first section: the answer, one sentence per phase, device and size range.

"inference on cpu, batch 1 to 1000: onnxruntime is fastest, 1.5x eager [1.4, 1.6]" -- from the
stable estimates (estimate_s and its interval; the raw median where a run has none), then the
estimates themselves with their intervals. Efficiencies above 100% are errors of the floor.
"""
from __future__ import annotations

import statistics
from typing import Any

from bench.engine.roofline import over_roofline
from bench.engine.units import format_duration, format_size

Entry = dict[str, Any]


def value_of(e: Entry) -> tuple[float, float, float]:
    """(value, low, high) of a timed entry: its estimate and interval, else median and IQR bounds."""
    est = e.get("estimate_s")
    interval = (e.get("estimate") or {}).get("interval_s")
    if isinstance(est, (int, float)) and est > 0 and isinstance(interval, list) and len(interval) == 2:
        return float(est), float(interval[0]), float(interval[1])
    median = float(e.get("median_s") or statistics.median(e["times_s"]))
    return median, float(e.get("min_s") or min(e["times_s"])), float(e.get("max_s") or max(e["times_s"]))


def _winners(entries: list[Entry]) -> list[tuple[int, Entry, Entry | None]]:
    """(size, fastest entry, eager entry) per size, sizes ascending."""
    by_size: dict[int, list[Entry]] = {}
    for e in entries:
        by_size.setdefault(int(e["batch_size"]), []).append(e)
    out = []
    for size in sorted(by_size):
        group = by_size[size]
        best = min(group, key=lambda e: value_of(e)[0])
        eager = next((e for e in group if e["runtime"] == "eager"), None)
        out.append((size, best, eager))
    return out


def _sentence(phase: str, device: str, sizes: list[int], best: Entry, eagers: list[Entry | None]) -> str:
    what = "N" if phase == "train_epoch" else "batch"
    span = format_size(sizes[0]) if len(sizes) == 1 else f"{format_size(sizes[0])} to {format_size(sizes[-1])}"
    head = f"- {phase} on {device}, {what} {span}: **{best['runtime']}** is fastest"
    eager = eagers[-1] if len(sizes) == 1 else None
    if best["runtime"] == "eager" or eager is None:
        return head + ("" if len(sizes) == 1 or best["runtime"] == "eager" else " at every size") + "."
    v, lo, hi = value_of(best)
    ev, elo, ehi = value_of(eager)
    return head + f", {ev / v:.2f}x eager [{elo / hi:.2f}, {ehi / lo:.2f}]."


def answer_lines(entries: list[Entry], floors: dict[str, Any] | None = None) -> list[str]:
    """## The answer: the sentences, then each measurement's estimate [interval]."""
    timed = [e for e in entries if e.get("times_s") and not e.get("skip_reason")]
    if not timed:
        return []
    out = ["## The answer", ""]
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in timed:
        groups.setdefault((e["phase"], e["device"]), []).append(e)
    for (phase, device), group in sorted(groups.items()):
        run: list[int] = []
        eagers: list[Entry | None] = []
        winners = _winners(group)
        for i, (size, best, eager) in enumerate(winners):
            run.append(size)
            eagers.append(eager)
            nxt = winners[i + 1][1]["runtime"] if i + 1 < len(winners) else None
            if nxt != best["runtime"]:
                out.append(_sentence(phase, device, run, best, eagers))
                run, eagers = [], []
    out += ["", "Stable estimates (bench/engine/estimate.py; 95% interval across worker processes):", ""]
    for e in sorted(timed, key=lambda e: (e["phase"], e["device"], int(e["batch_size"]), e["runtime"])):
        v, lo, hi = value_of(e)
        how = (e.get("estimate") or {}).get("method", "raw median, no estimate")
        out.append(f"- `{e['phase']}/{e['runtime']}/{e['device']}/{e['batch_size']}`: "
                   f"{format_duration(v)} [{format_duration(lo)}, {format_duration(hi)}] ({how})")
    effs = {f"{e['phase']}/{e['runtime']}/{e['device']}/{e['batch_size']}": float(e["bandwidth_efficiency"])
            for e in timed if isinstance(e.get("bandwidth_efficiency"), (int, float))}
    errors = over_roofline(effs)
    if errors:
        out += [""] + [f"> **{line}**" for line in errors]
    return out + [""]
