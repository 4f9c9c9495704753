"""The report's first section: the answer, one sentence per phase, device and size range.

"inference on cpu, batch 1: onnxruntime is fastest, 1.46x eager (the runner-up) [1.40, 1.52]":
within one run, runtimes are compared on what this run measured of each (estimate_s and its 95%
interval across draws), never through a stored scale. A winner is named only where its interval
separates from the runner-up's; otherwise the sentence names the runtimes that tie. Then each
measurement's time with its interval. Efficiencies above 100% are errors of the floor.
"""
from __future__ import annotations

import statistics
from typing import Any

from bench.engine.estimate import MEASURED_METHODS, fast_state
from bench.engine.roofline import over_roofline
from bench.engine.units import format_duration, format_size

Entry = dict[str, Any]


def value_of(e: Entry) -> tuple[float, float, float]:
    """(value, low, high) of a timed entry, all of them times this run measured: its estimate
    and 95% interval (v3); for older files the same fast state of its draws' medians (a v2
    estimate_s was rescaled by a stored scale: not shown as a time), else the raw median with
    the samples' min and max."""
    est = e.get("estimate") or {}
    interval = est.get("interval_s")
    value = e.get("estimate_s")
    if (est.get("method") in MEASURED_METHODS and isinstance(value, (int, float)) and value > 0
            and isinstance(interval, list) and len(interval) == 2):
        return float(value), float(interval[0]), float(interval[1])
    draws = [d.get("median_s") for p in e.get("processes") or () if isinstance(p, dict)
             for d in p.get("draws") or () if isinstance(d, dict)]
    if len(draws) > 1 and all(isinstance(d, (int, float)) and d > 0 for d in draws):
        return fast_state(draws)
    median = float(e.get("median_s") or statistics.median(e["times_s"]))
    return median, float(e.get("min_s") or min(e["times_s"])), float(e.get("max_s") or max(e["times_s"]))


def outcome(group: list[Entry]) -> tuple[tuple[str, ...], str]:
    """(who, how sure) at one size: (winner,) when its interval separates from the runner-up's,
    with the runner-up's time over the winner's and that ratio's interval (the two intervals'
    far ends); else every runtime whose interval overlaps the fastest one's: a tie."""
    ranked = sorted(group, key=lambda e: value_of(e)[0])
    best = value_of(ranked[0])
    if len(ranked) == 1:
        return (ranked[0]["runtime"],), ""
    tied = [e for e in ranked[1:] if value_of(e)[1] <= best[2]]
    if tied:
        return tuple(e["runtime"] for e in [ranked[0], *tied]), ""
    v, lo, hi = value_of(ranked[1])
    return (ranked[0]["runtime"],), (f"{v / best[0]:.2f}x {ranked[1]['runtime']} (the runner-up)"
                                     f" [{lo / best[2]:.2f}, {hi / best[1]:.2f}]")


def _sentence(phase: str, device: str, sizes: list[int], who: tuple[str, ...], how: list[str]) -> str:
    what = "N" if phase == "train_epoch" else "batch"
    span = format_size(sizes[0]) if len(sizes) == 1 else f"{format_size(sizes[0])} to {format_size(sizes[-1])}"
    if len(who) > 1:
        return (f"- {phase} on {device}, {what} {span}: no single fastest; "
                + ", ".join(f"**{r}**" for r in who) + " tie (their 95% intervals overlap).")
    sure = "; ".join(f"{h} at {format_size(z)}" if len(sizes) > 1 else h for z, h in zip(sizes, how) if h)
    return f"- {phase} on {device}, {what} {span}: **{who[0]}** is fastest" + (f", {sure}." if sure else ".")


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
        by_size: dict[int, list[Entry]] = {}
        for e in group:
            by_size.setdefault(int(e["batch_size"]), []).append(e)
        outcomes = [(size, *outcome(by_size[size])) for size in sorted(by_size)]
        run: list[int] = []
        how: list[str] = []
        for i, (size, who, sure) in enumerate(outcomes):
            run.append(size)
            how.append(sure)
            if i + 1 == len(outcomes) or outcomes[i + 1][1] != who:
                out.append(_sentence(phase, device, run, who, how))
                run, how = [], []
    out += ["", "What this run measured, its fast state: the first quartile over draws (worker processes"
            " x fresh instances) of each draw's median, with its 95% interval (bench/engine/estimate.py):", ""]
    for e in sorted(timed, key=lambda e: (e["phase"], e["device"], int(e["batch_size"]), e["runtime"])):
        v, lo, hi = value_of(e)
        draws = (e.get("estimate") or {}).get("draws")
        how = f"{draws} draws" if isinstance(draws, int) else "raw median, no draws"
        out.append(f"- `{e['phase']}/{e['runtime']}/{e['device']}/{e['batch_size']}`: "
                   f"{format_duration(v)} [{format_duration(lo)}, {format_duration(hi)}] ({how})")
    effs = {f"{e['phase']}/{e['runtime']}/{e['device']}/{e['batch_size']}": float(e["bandwidth_efficiency"])
            for e in timed if isinstance(e.get("bandwidth_efficiency"), (int, float))}
    errors = over_roofline(effs)
    if errors:
        out += [""] + [f"> **{line}**" for line in errors]
    return out + [""]
