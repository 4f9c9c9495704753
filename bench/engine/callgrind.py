"""Instruction counts under Callgrind: the launcher, the toggled collection, the output parser.

One valgrind process per runtime or training variant pays torch's import under valgrind once
(~60-90 s on 2 busy vCPUs) and then counts every size: valgrind starts with
`--collect-atstart=no`, and around each workload the process calls torch._C._valgrind_toggle()
(collection on) and torch._C._valgrind_toggle_and_dump_stats() (off, and write the counts since
the last dump to a new file, OUT.N). Each dump file's `totals:` line is the Ir count of that
region. The counts do not depend on the host's load or frequency, only on the code run
(METHOD.md "Instruction counts"): the same loop twice in one process agreed to 0.09%.

What one figure is (`count_workload`): `warmup_calls` untimed calls, then `repeats` counted loops
of `calls` calls each; from each, the count of an identical loop calling an empty function
(`calls` calls, counted once) is subtracted, so the loop, the call and the toggles are not in
the figure; divided by `calls`: instructions per call. The repeats' spread (max/min - 1) says
whether the workload is deterministic.
"""
from __future__ import annotations

import gc
import os
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

VALGRIND_MISSING = "valgrind not found: apt-get install valgrind"
REPEATS = 2                  # counted loops per workload: their spread is the determinism check
NONDETERMINISTIC_SPREAD = 0.005  # repeats 0.5% apart: half the 1% gate; seen here: 0.07-0.21%
MAX_DUMP_BYTES = 64 << 20    # a dump of one toggled region is ~100 KB; far more is not ours
OUT_NAME = "cg.%p.out"       # callgrind expands %p to the pid; dumps become cg.<pid>.out.<N>
_COUNT_LINE = re.compile(rb"^(totals|summary):[ \t]*([0-9]+)(?:[ \t]+[0-9]+)*[ \t]*$", re.MULTILINE)
_EVENTS_LINE = re.compile(rb"^events:[ \t]*([A-Za-z0-9_ \t]+?)[ \t]*$", re.MULTILINE)


class CallgrindError(RuntimeError):
    """A Callgrind output that cannot be read as one count, or collection that never happened."""


def valgrind_path() -> str | None:
    return shutil.which("valgrind")


def valgrind_version(path: str) -> str:
    """`valgrind --version`'s one line (e.g. valgrind-3.19.0), recorded with every count."""
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    line = (out.stdout or "").strip().splitlines()[:1]
    return line[0][:40] if line and re.fullmatch(r"valgrind-[0-9A-Za-z.\-]+", line[0]) else "valgrind (unknown)"


def callgrind_prefix(valgrind: str, out_dir: str | os.PathLike[str]) -> list[str]:
    """The command in front of `python -m bench.worker`: callgrind, collection off until toggled."""
    return [valgrind, "--tool=callgrind", "--collect-atstart=no",
            f"--callgrind-out-file={Path(out_dir) / OUT_NAME}"]


def parse_totals(raw: bytes, source: object = "callgrind output") -> int:
    """The Ir count of one Callgrind output file (untrusted bytes: bounded, strictly matched).

    `totals:` wins over `summary:` (callgrind writes both, equal); the first number is the first
    event, which must be Ir (the only event without cache or branch simulation)."""
    if len(raw) > MAX_DUMP_BYTES:
        raise CallgrindError(f"{source}: {len(raw)} bytes, over the {MAX_DUMP_BYTES} a dump can be")
    events = _EVENTS_LINE.search(raw)
    if events is None or events.group(1).split()[:1] != [b"Ir"]:
        raise CallgrindError(f"{source}: no `events: Ir` line (not a callgrind output file?)")
    found = {m.group(1): m.group(2) for m in _COUNT_LINE.finditer(raw)}
    text = found.get(b"totals") or found.get(b"summary")
    if text is None:
        raise CallgrindError(f"{source}: no totals: or summary: line")
    if len(text) > 20:  # 10^20 instructions: more than any machine runs in a benchmark
        raise CallgrindError(f"{source}: count {text[:24]!r}... is not a plausible count")
    return int(text)


class Collector:
    """Toggled collection inside a process started under `callgrind_prefix`: count(fn) -> Ir."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self._seen = set(self._dumps())

    def _dumps(self) -> list[Path]:
        return [p for p in self.out_dir.glob(f"cg.{os.getpid()}.out.*") if p.suffix[1:].isdigit()]

    def count(self, region: Callable[[], Any]) -> int:
        """Instructions executed by `region()`, toggles included (the baseline removes them).

        The garbage collector is off inside (bench.engine.timing's GC policy): a collection that
        falls into one counted loop and not the other made a fused step's repeats differ 0.74%."""
        import torch

        enabled = gc.isenabled()
        gc.disable()
        try:
            torch._C._valgrind_toggle()
            region()
            torch._C._valgrind_toggle_and_dump_stats()
        finally:
            if enabled:
                gc.enable()
        new = [p for p in self._dumps() if p not in self._seen]
        self._seen.update(new)
        if len(new) != 1:  # none: not under callgrind (valgrind's client requests are no-ops)
            raise CallgrindError(f"expected one new callgrind dump in {self.out_dir}, found {len(new)}"
                                 " (is this process running under valgrind --tool=callgrind?)")
        raw = new[0].read_bytes()
        new[0].unlink()  # read once: the folder holds only what is still to read
        return parse_totals(raw, new[0].name)


@dataclass(frozen=True)
class CountPlan:
    """How many calls one workload gets: enough to swamp the toggles, bounded at large sizes."""

    calls: int
    warmup_calls: int
    repeats: int = REPEATS


def plan_for(size: int) -> CountPlan:
    """200 calls up to 10^5 rows; fewer above, so a 10^7 call (~1 s under valgrind) stays bounded.

    Deterministic in the size, so two runs of one size always count the same number of calls."""
    calls = max(2, min(200, 20_000_000 // max(size, 1)))
    return CountPlan(calls=calls, warmup_calls=max(2, min(100, calls)))


def _loop(fn: Callable[[], Any], calls: int) -> Callable[[], None]:
    def region() -> None:
        for _ in range(calls):
            fn()
    return region


def _empty() -> None:
    """The baseline's call: a Python call that does nothing."""


def count_workload(call: Callable[[], Any], plan: CountPlan, collector: Collector) -> dict[str, Any]:
    """Warm up, count an empty loop of the same call count, then `plan.repeats` counted loops."""
    for _ in range(plan.warmup_calls):  # lazy init, allocator, caches of dispatch: not counted
        call()
    baseline = collector.count(_loop(_empty, plan.calls))
    per_call = [(collector.count(_loop(call, plan.calls)) - baseline) / plan.calls
                for _ in range(plan.repeats)]
    return instruction_record(per_call, plan, baseline / plan.calls)


def instruction_record(per_call: list[float], plan: CountPlan, baseline_per_call: float) -> dict[str, Any]:
    """results.json's `instructions` object of one measurement (bench/store/schema.py, v3)."""
    return {"repeats_per_call": per_call, "spread": spread(per_call), "calls": plan.calls,
            "warmup_calls": plan.warmup_calls, "repeats": plan.repeats,
            "baseline_subtracted": True, "baseline_per_call": baseline_per_call}


def spread(values: list[float]) -> float:
    """max/min - 1 of the repeats: 0 for a deterministic workload."""
    lo, hi = min(values), max(values)
    return hi / lo - 1.0 if lo > 0 else float("inf")


def nondeterminism_warning(record: dict[str, Any]) -> str | None:
    """A warning when the repeats differ by more than NONDETERMINISTIC_SPREAD."""
    s = record.get("spread")
    if isinstance(s, (int, float)) and s > NONDETERMINISTIC_SPREAD:
        return (f"instructions: repeats differ by {s:.2%} (> {NONDETERMINISTIC_SPREAD:.1%}): this "
                "workload's count is not deterministic; gate it at a wider threshold")
    return None


def median_per_call(record: dict[str, Any]) -> float:
    return statistics.median(record["repeats_per_call"])
