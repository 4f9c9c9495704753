"""Reading a history store back: its runs, each reduced to one point per timed measurement.

A point's value is a time the run measured: its estimate_s (results schema v3: the fast state,
the first quartile of its draws' medians), else the same fast state of its draws' medians (a v2
estimate_s was rescaled by a stored scale, so it is not used), else the median of its raw
samples (v1). Its interval is the
estimate's, else the draws', else the samples' interquartile range. Its samples are the raw
measured samples; step detection gates on what `compare` gates on (Entry.gated). Every file is read as untrusted (linreg.untrusted: regular files
only, size and depth bounded); a corrupt or foreign one is reported and skipped, never fatal.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.compare import BenchFile, results_bench_file
from bench.compare.files import Entry
from bench.engine.estimate import MEASURED_METHODS, fast_state
from bench.history.store import MACHINE_JSON, MAX_RUN_BYTES, commit_of, parse_run_filename
from bench.engine.measurement import percentile
from linreg.errors import LinregError
from linreg.untrusted import load_json


@dataclass(frozen=True)
class Point:
    """One timed measurement of one run."""

    value_s: float                  # a measured time: see the module's docstring
    low_s: float                    # its interval
    high_s: float
    samples_s: tuple[float, ...]    # the raw measured samples
    source: str                     # MEASURED | DRAWS | "median"
    calls_per_sample: int = 1       # calls averaged into each raw sample
    entry: Entry | None = None      # compare's view of the measurement (what the step gate reads)


MEASURED = "fast state of the draw medians"  # estimate_s as the run stored it (estimate.py)
COUNTED = "instructions per call"  # a count point: value, low, high and samples are counts, not s
DRAWS = "fast state of the draw medians (recomputed from an older file)"


@dataclass(frozen=True)
class Run:
    machine: str
    path: Path
    run_id: str
    created_utc: str
    commit: str                     # full hash, or "" when the run recorded none
    dirty: bool
    partial: bool                   # an interrupted run: never a baseline
    file: BenchFile                 # compare's view: entries, fingerprint, config
    points: dict[str, Point]        # measurement key (compare.match_key) -> point
    labels: dict[str, str]          # measurement key -> phase/runtime/device/size
    # the second metric (bench --metric instructions): instructions per call, a line of its own
    counts: dict[str, Point] = field(default_factory=dict)
    failure: str = ""               # a failure record (history backfill): why its commit could not run
    generation: int | None = None   # ancestors of its commit (history backfill): ancestry order
    subject: str = ""               # its commit's subject, when the run recorded it

    @property
    def short_commit(self) -> str:
        return (self.commit[:10] or "no commit") + ("+dirty" if self.dirty else "")


@dataclass(frozen=True)
class Store:
    root: Path
    runs: tuple[Run, ...]
    machines: dict[str, dict[str, Any]]   # machine id -> machine.json (or {} when unreadable)
    problems: tuple[str, ...]              # one line per skipped file


def _interval(entry: dict[str, Any]) -> tuple[float, float] | None:
    """The estimate's interval, under the names schema v2 may give it."""
    estimate = entry.get("estimate")
    if not isinstance(estimate, dict):
        return None
    for low_key, high_key in (("low_s", "high_s"), ("ci_low_s", "ci_high_s")):
        low, high = estimate.get(low_key), estimate.get(high_key)
        if _finite(low) and _finite(high):
            return float(low), float(high)
    for key in ("interval_s", "interval", "ci_s"):
        pair = estimate.get(key)
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(_finite, pair)):
            return float(pair[0]), float(pair[1])
    return None


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def point_of(entry: dict[str, Any], times_s: tuple[float, ...], median_s: float,
             compared: Entry | None = None) -> Point | None:
    """The trend point of one results.json entry, or None when it was not timed."""
    if not times_s or not _finite(median_s) or median_s <= 0:
        return None
    estimate = entry.get("estimate_s")
    method = (entry.get("estimate") or {}).get("method") if isinstance(entry.get("estimate"), dict) else None
    calls = entry.get("calls_per_sample")
    calls = calls if isinstance(calls, int) and not isinstance(calls, bool) and calls >= 1 else 1
    if method in MEASURED_METHODS and _finite(estimate) and estimate > 0:
        interval = _interval(entry) or (estimate, estimate)
        return Point(float(estimate), interval[0], interval[1], times_s, MEASURED, calls, compared)
    draws = compared.draws_s if compared is not None else ()
    if len(draws) > 1:
        value, low, high = fast_state(draws)
        return Point(value, low, high, times_s, DRAWS, calls, compared)
    ordered = sorted(times_s)
    return Point(median_s, percentile(ordered, 25), percentile(ordered, 75), times_s, "median",
                 calls, compared)


MAX_SIZE = 10**12   # batch sizes, N, world sizes: a run measures nothing bigger
SIZE_FIELDS = ("batch_size", "n", "world_size", "threads", "processes")


def check_sizes(data: dict[str, Any], path: Path) -> None:
    """Every size of every measurement an integer in [0, MAX_SIZE]: a 4,000-digit batch_size
    made every dashboard build fail (`File name too long`) for everyone using the store."""
    for i, entry in enumerate(data.get("measurements") or []):
        for key in SIZE_FIELDS if isinstance(entry, dict) else ():
            value = entry.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_SIZE:
                raise LinregError(f"{path}: field measurements[{i}].{key}: {_describe_int(value)} is "
                                  f"outside [0, 10^12]")


def _describe_int(value: int) -> str:
    if value.bit_length() > 14_000:  # str() of an int over 4,300 digits raises ValueError
        return "a number of thousands of digits"
    text = str(value)
    return text if len(text) <= 24 else f"a {len(text.lstrip('-'))}-digit number"


def run_of(data: dict[str, Any], path: Path, machine: str, run_id: str) -> Run:
    """A stored results document as a Run (compare's loader validates it; sizes bounded here)."""
    check_sizes(data, path)
    bench_file = results_bench_file(data, str(path))
    raw = raw_entries(data, bench_file)
    points: dict[str, Point] = {}
    labels: dict[str, str] = {}
    for key, e in bench_file.entries.items():
        labels[key] = e.label
        if e.skip_reason is None and e.parity_passed is not False:
            point = point_of(raw.get(key, {}), e.times_s, e.median_s, e)
            if point is not None:
                points[key] = point
    commit, dirty = commit_of(data)
    counts = {key: p for key, e in bench_file.entries.items() if key in points
              and (p := count_point(e)) is not None}
    failure, generation, subject = commit_record(data)
    return Run(machine, path, run_id, str(data.get("created_utc", "")), commit, dirty,
               bool(data.get("partial")), bench_file, points, labels, counts, failure,
               generation, subject)


def commit_record(data: dict[str, Any]) -> tuple[str, int | None, str]:
    """(failure reason or "", generation, subject) from a backfilled run's blocks (untrusted)."""
    failure = data.get("failure")
    reason = ""
    if isinstance(failure, dict):
        reason = f"{failure.get('stage', '?')}: {failure.get('reason', '?')}"[:300]
    block = data.get("backfill") if isinstance(data.get("backfill"), dict) else {}
    generation = block.get("generation")
    if not isinstance(generation, int) or isinstance(generation, bool) or not 0 < generation <= MAX_SIZE:
        generation = None
    subject = block.get("subject") if isinstance(block.get("subject"), str) else ""
    return reason, generation, subject[:200]


def count_point(entry: Entry) -> Point | None:
    """The instruction-count point of a timed entry: the repeats' median, their range, the
    repeats as its samples (the step gate reads them, not `entry`)."""
    counts = entry.counts
    if counts is None or not counts.counted:
        return None
    values = counts.repeats_per_call
    return Point(statistics.median(values), min(values), max(values), values, COUNTED, 1, None)


def raw_entries(data: dict[str, Any], bench_file: BenchFile) -> dict[str, dict[str, Any]]:
    """{compare's key: the results.json entry it was read from}.

    compare reads one entry per measurement, in file order, so the two line up; matching by
    position keeps this right whatever a later schema adds to the key (world size, ...).
    """
    measurements = data["measurements"]
    if len(measurements) != len(bench_file.entries):
        return {}
    return dict(zip(bench_file.entries, measurements))


def load_store(root: Path) -> Store:
    """Every run of every machine in the store; unreadable files become `problems` lines."""
    runs: list[Run] = []
    machines: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        machines[folder.name] = _machine_json(folder, problems)
        for path in sorted(folder.glob("*.json")):
            if path.name == MACHINE_JSON:
                continue
            parsed = parse_run_filename(path.name)
            if parsed is None:
                problems.append(f"{path}: not a run file name (<UTC time>_<commit>_<run id>.json)")
                continue
            try:
                runs.append(run_of(load_json(path, MAX_RUN_BYTES), path, folder.name, parsed[2]))
            except LinregError as exc:
                problems.append(str(exc))
            except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                problems.append(f"{path}: malformed run ({type(exc).__name__})")
    return Store(root, tuple(runs), machines, tuple(problems))


def _machine_json(folder: Path, problems: list[str]) -> dict[str, Any]:
    path = folder / MACHINE_JSON
    if not path.exists():
        return {}
    try:
        data = load_json(path, MAX_RUN_BYTES)
    except LinregError as exc:
        problems.append(str(exc))
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: not a JSON object")
        return {}
    return data
