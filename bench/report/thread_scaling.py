"""The thread-scaling table of a run measured at several thread counts (`--threads 1 2`).

Each measurement carries its `threads`; this puts the counts side by side per phase, runtime,
device and size: the time at each count (the first quartile of its draws' medians, else the
raw median) and the speedup over one thread (over the fewest threads when 1 was not measured).
"""
from __future__ import annotations

from typing import Any

from bench.engine.measurement import entry_threads, runtime_label
from bench.engine.units import format_duration, format_size
from bench.report.answer import value_of
from bench.report.format import INFERENCE_ORDER, TRAIN_ORDER, device_rank, runtime_rank
from bench.report.tables import table

Entry = dict[str, Any]


def thread_counts(entries: list[Entry]) -> list[int]:
    """The distinct thread counts of a run's measurements (data-parallel records aside), ascending."""
    return sorted({t for e in entries if e.get("world_size") is None and (t := entry_threads(e))})


def by_thread_count(entries: list[Entry]) -> dict[int, list[Entry]]:
    """{threads: its entries, runtime named without the count}: one report section each."""
    groups: dict[int, list[Entry]] = {}
    for e in entries:
        if e.get("world_size") is None and (t := entry_threads(e)):
            groups.setdefault(t, []).append({**e, "runtime": runtime_label(e["runtime"])})
    return dict(sorted(groups.items()))


def _rows(entries: list[Entry], counts: list[int], base: int) -> list[list[str]]:
    cells: dict[tuple[str, str, str, int], dict[int, float]] = {}
    for e in entries:
        t = entry_threads(e)
        if e.get("world_size") is None and t and "skip_reason" not in e and e.get("times_s"):
            key = (e["phase"], e["runtime"], e["device"], int(e["batch_size"]))
            cells.setdefault(key, {})[t] = value_of(e)[0]

    def order(key: tuple[str, str, str, int]) -> tuple:
        phase, runtime, device, size = key
        ranks = TRAIN_ORDER if phase == "train_epoch" else INFERENCE_ORDER
        return (phase != "train_epoch", device_rank(device), runtime_rank(runtime, ranks), size)
    rows = []
    for key in sorted(cells, key=order):
        times = cells[key]
        row = [key[0], key[1], key[2], format_size(key[3])]
        row += [format_duration(times[t]) if t in times else "–" for t in counts]
        row += [f"{times[base] / times[t]:.2f}×" if t in times and base in times else "–"
                for t in counts if t != base]
        rows.append(row)
    return rows


def thread_scaling_lines(entries: list[Entry]) -> list[str]:
    """`## Thread scaling`: one row per phase/runtime/device/size; nothing for a one-count run."""
    counts = thread_counts(entries)
    if len(counts) < 2:
        return []
    base = 1 if 1 in counts else counts[0]
    header = ["phase", "runtime", "device", "size", *(f"{t} thread{'s' * (t > 1)}" for t in counts),
              *(f"speedup {t} vs {base}" for t in counts if t != base)]
    return ["## Thread scaling", "",
            f"Each measurement at {', '.join(map(str, counts))} intra-op threads (torch and ONNX Runtime "
            f"alike); the time is the first quartile of the draws' medians (the raw median where there are none) and the "
            f"speedup is the time at {base} thread{'s' * (base > 1)} divided by the time at the count "
            "(>1× is faster). On a machine with fewer free cores than threads, more threads can be slower.",
            "", *table(header, _rows(entries, counts, base)), ""]
