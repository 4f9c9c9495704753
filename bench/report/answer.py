"""The report's first section: the answer, one sentence per phase, device and size range.

"inference on cpu, batch 1: onnxruntime is fastest, 1.46x eager (the runner-up) [1.40, 1.52]":
within one run, runtimes are compared on what this run measured of each, never through a stored
scale. Where every runtime at a size has a host ratio that tracks (its blocks over the lockstep
reference's) and the run carries a reference ladder, they are ranked on host-normalised times:
the host ratio times its reference's time over the ladder's anchor (bench/engine/ladder.py), so
a host slow phase during one runtime's measurement cannot hand the win to another; two runtimes
with the same reference compare on their host ratios alone. Otherwise on estimate_s and its 95%
interval across draws. A winner is named only where its interval separates from the
runner-up's; otherwise the sentence names the runtimes that tie. Then each measurement's time
with its interval. Efficiencies above 100% are errors of the floor.
"""
from __future__ import annotations

import statistics
from typing import Any

from bench.engine.estimate import MEASURED_METHODS, QUIET_HOST, fast_state
from bench.engine.ladder import ladder_scales
from bench.engine.reference import SINGLE_THREADED
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
    median = raw_median(e)
    return median, float(e.get("min_s") or min(e["times_s"])), float(e.get("max_s") or max(e["times_s"]))


Scales = dict[str, tuple[float, float, float]]
HOST_NORMALISED = "host-normalised"


def host_value(e: Entry, scales: Scales, ladder_threads: Any) -> tuple[str, float, float, float] | None:
    """(reference kind, host ratio, its 95% interval) of an entry whose ratio tracks and whose
    reference the ladder put on its scale at the entry's threads; else None."""
    est = e.get("estimate")
    host = est.get("host") if isinstance(est, dict) else None
    if not isinstance(host, dict):
        return None
    kind, ratio, interval = host.get("reference"), host.get("ratio"), host.get("interval")
    if host.get("usable") is not True or not isinstance(kind, str) or kind not in scales or not _positive(ratio) \
            or not (isinstance(interval, list) and len(interval) == 2 and all(map(_positive, interval))):
        return None
    if kind not in SINGLE_THREADED and e.get("threads") != ladder_threads:
        return None
    return str(kind), float(ratio), float(interval[0]), float(interval[1])


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def raw_median(e: Entry) -> float:
    """The median of all the entry's samples: the file's own, else from its samples."""
    return float(e.get("median_s") or statistics.median(e["times_s"]))


def host_moved_of(e: Entry) -> float | None:
    """How far the host moved during the measurement (estimate.host.host_moved), or None: absent
    from older files, and anything but a positive number from a stranger's."""
    moved = ((e.get("estimate") or {}).get("host") or {}).get("host_moved")
    return float(moved) if _positive(moved) else None


def _host_pair(best: tuple, other: tuple, scales: Scales) -> tuple[float, float, float]:
    """other over best on host-normalised times, with its interval: the host intervals' far
    ends, times the ladder's where the references differ (the same reference: it cancels)."""
    (kb, rb, lb, hb), (ko, ro, lo, ho) = best, other
    if kb == ko:
        return ro / rb, lo / hb, ho / lb
    sb, so = scales[kb], scales[ko]
    return ro * so[0] / (rb * sb[0]), lo * so[1] / (hb * sb[2]), ho * so[2] / (lb * sb[1])


def outcome(group: list[Entry], ladder: Any = None) -> tuple[tuple[str, ...], str]:
    """(who, how sure) at one size: (winner,) when its interval separates from the runner-up's,
    with the runner-up's figure over the winner's and that ratio's interval (the two intervals'
    far ends); else every runtime whose interval overlaps the fastest one's: a tie. On
    host-normalised times where every entry has one (the module's docstring), else on times."""
    if len(group) == 1:
        return (group[0]["runtime"],), ""
    scales = ladder_scales(ladder)
    hosts = [host_value(e, scales, ladder.get("threads")) for e in group] if scales else []
    if hosts and all(hosts):
        order = sorted(range(len(group)), key=lambda i: hosts[i][1] * scales[hosts[i][0]][0])
        best = hosts[order[0]]
        pairs = [(group[i], _host_pair(best, hosts[i], scales)) for i in order[1:]]
        figure = f", {HOST_NORMALISED}"
        first = group[order[0]]
    else:
        ranked = sorted(group, key=lambda e: value_of(e)[0])
        b, bl, bh = value_of(ranked[0])
        pairs = [(e, (v / b, lo / bh, hi / bl)) for e in ranked[1:] for v, lo, hi in [value_of(e)]]
        figure = ""
        first = ranked[0]
    tied = [e for e, (_, low, _) in pairs if low <= 1.0]
    if tied:
        return tuple(e["runtime"] for e in [first, *tied]), ""
    runner_up, (r, lo, hi) = pairs[0]
    return (first["runtime"],), f"{r:.2f}x {runner_up['runtime']} (the runner-up{figure}) [{lo:.2f}, {hi:.2f}]"


def _sentence(phase: str, device: str, sizes: list[int], who: tuple[str, ...], how: list[str]) -> str:
    what = "N" if phase == "train_epoch" else "batch"
    span = format_size(sizes[0]) if len(sizes) == 1 else f"{format_size(sizes[0])} to {format_size(sizes[-1])}"
    if len(who) > 1:
        return (f"- {phase} on {device}, {what} {span}: no single fastest; "
                + ", ".join(f"**{r}**" for r in who) + " tie (their 95% intervals overlap).")
    sure = "; ".join(f"{h} at {format_size(z)}" if len(sizes) > 1 else h for z, h in zip(sizes, how) if h)
    return f"- {phase} on {device}, {what} {span}: **{who[0]}** is fastest" + (f", {sure}." if sure else ".")


def answer_lines(entries: list[Entry], floors: dict[str, Any] | None = None,
                 ladder: Any = None) -> list[str]:
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
        outcomes = [(size, *outcome(by_size[size], ladder)) for size in sorted(by_size)]
        run: list[int] = []
        how: list[str] = []
        for i, (size, who, sure) in enumerate(outcomes):
            run.append(size)
            how.append(sure)
            if i + 1 == len(outcomes) or outcomes[i + 1][1] != who:
                out.append(_sentence(phase, device, run, who, how))
                run, how = [], []
    if any(HOST_NORMALISED in line for line in out):
        out += ["", f"Where a sentence says {HOST_NORMALISED}, the runtimes were ranked on their host ratios"
                " (each block over the lockstep reference's block right after it), put on one scale by this"
                " run's reference ladder: a host slow phase during one runtime's measurement does not move"
                " them. A ratio, not a time; the times are below."]
    out += ["", "What this run measured, its fast state: the first quartile over draws (worker processes"
            " x fresh instances) of each draw's median, with its 95% interval (bench/engine/estimate.py);"
            " beside it the raw median of all its samples, and how far the host moved meanwhile (its"
            f" companion's fixed reference, third over first quartile across the draws; within"
            f" {QUIET_HOST - 1:.0%}: held still). Where the host moved, the raw median holds its slow phases:", ""]
    for e in sorted(timed, key=lambda e: (e["phase"], e["device"], int(e["batch_size"]), e["runtime"])):
        v, lo, hi = value_of(e)
        draws = (e.get("estimate") or {}).get("draws")
        how = f"{draws} draws" if isinstance(draws, int) else "raw median, no draws"
        if isinstance(draws, int):
            how += f"; raw median {format_duration(raw_median(e))}"
        moved = host_moved_of(e)
        if moved is not None:
            how += f"; the host moved {moved:.2f}x" if moved > QUIET_HOST else "; the host held still"
        out.append(f"- `{e['phase']}/{e['runtime']}/{e['device']}/{e['batch_size']}`: "
                   f"{format_duration(v)} [{format_duration(lo)}, {format_duration(hi)}] ({how})")
    effs = {f"{e['phase']}/{e['runtime']}/{e['device']}/{e['batch_size']}": float(e["bandwidth_efficiency"])
            for e in timed if isinstance(e.get("bandwidth_efficiency"), (int, float))}
    errors = over_roofline(effs)
    if errors:
        out += [""] + [f"> **{line}**" for line in errors]
    return out + [""]
