"""results.json and results.csv: build, write atomically, and load back with validation.

The JSON is the record (raw samples, fingerprint, floors); the CSV is a flat view of it for
spreadsheets. `load_results` is the one way in for everything that reads a run back (report,
compare): it checks the file before anyone indexes into it, so a bad file is one error line.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.engine.measurement import PHASES, Measurement, entry_runtime
from bench.store.identity import new_run_id
from bench.store.schema import SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS
from linreg.errors import LinregError
from linreg.files import atomic_path, write_json_atomic
from linreg.untrusted import UntrustedFileError, load_json

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"

TOP_LEVEL_KEYS = ("schema_version", "created_utc", "environment", "config", "floors", "measurements")
ENTRY_KEYS = ("phase", "runtime", "device", "batch_size", "parity", "warnings")

# One row per measurement; skipped rows leave the timing columns empty.
CSV_COLUMNS = (
    "phase", "runtime", "device", "batch_size", "world_size", "threads",
    "estimate_s", "estimate_low_s", "estimate_high_s", "draws", "host_ratio",
    "median_s", "iqr_s", "min_s", "block_p05_s", "block_p95_s", "n_samples", "calls_per_sample",
    "latency_p50_s", "latency_p99_s", "latency_p999_s", "latency_n", "rss_peak_above_baseline_bytes",
    "parity_passed", "max_abs_error", "max_ulp",
    "bytes_per_s", "bandwidth_efficiency", "minor_faults_per_call", "compile_s",
    "allreduce_share", "scaling_efficiency",
    "skip_reason", "warnings",
)


class ResultsError(LinregError):
    """A results file that is missing, unreadable, or not a results file this version reads."""


def parity_failed_entries(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries whose parity check failed: the one definition for stored results (the report and
    the summary); bench.engine.parity.failed_parity is the same rule on Measurement records."""
    return [e for e in entries if e.get("parity") and not e["parity"].get("passed")]


def summarize(entries: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts a reader wants first: what ran, what was skipped, what failed parity or warned."""
    entries = list(entries)
    return {
        "total": len(entries),
        "measured": sum(1 for e in entries if "skip_reason" not in e),
        "skipped": sum(1 for e in entries if "skip_reason" in e),
        "parity_failed": len(parity_failed_entries(entries)),
        "warned": sum(1 for e in entries if e.get("warnings")),
    }


def build_results(
    environment: dict[str, Any],
    config: dict[str, Any],
    floors: dict[str, Any],
    measurements: list[Measurement],
    run_id: str | None = None,
    sections: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results.json document; non-finite floats become null (JSON has no NaN).

    `run_id`: a writer that rewrites results.json during one run (progress, interruption) passes
    the same id each time; by default every document is a new run. `sections` are extra top-level
    records (v2: `loadgen`), written after `summary`."""
    entries = [_finite(m.to_dict()) for m in measurements]
    return {
        "schema_version": SCHEMA_VERSION,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_id": run_id or new_run_id(),  # the history store recognises a run by it
        "environment": _finite(environment),
        "config": _finite(config),
        "floors": _finite(floors),
        "measurements": entries,
        "summary": summarize(entries),
        **_finite(sections or {}),
    }


def write_results(out_dir: str | Path, *parts: Any, **options: Any) -> Path:
    """build_results(*parts, **options) written into out_dir as results.json and results.csv
    (each atomically); returns the JSON's path."""
    return write_document(out_dir, build_results(*parts, **options))


def write_document(out_dir: str | Path, results: dict[str, Any]) -> Path:
    """A built results document into out_dir: results.json, then its flat view results.csv."""
    out = Path(out_dir)
    json_path = out / RESULTS_JSON
    write_json_atomic(json_path, results)
    write_csv(results, out / RESULTS_CSV)
    return json_path


def csv_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One results.json entry flattened to CSV_COLUMNS; absent values are empty cells."""
    parity = entry.get("parity") or {}
    row: dict[str, Any] = {col: entry.get(col) for col in CSV_COLUMNS}
    row["parity_passed"] = ("true" if parity["passed"] else "false") if parity else None
    row["max_abs_error"] = parity.get("max_abs_error")
    row["max_ulp"] = parity.get("max_ulp")
    row["warnings"] = "; ".join(entry.get("warnings") or ())
    latency = entry.get("latency_s") or {}
    for key in ("p50", "p99", "p999"):
        row[f"latency_{key}_s"] = latency.get(key)
    row["latency_n"] = latency.get("n")
    row["rss_peak_above_baseline_bytes"] = (entry.get("memory") or {}).get("rss_peak_above_baseline_bytes")
    # the time this run measured (its fast state: the first quartile of the draw medians) and its interval; host_ratio is the
    # dimensionless host-normalised figure for comparing runs, never a time
    est = entry.get("estimate") if isinstance(entry.get("estimate"), dict) else {}
    interval = est.get("interval_s") if isinstance(est.get("interval_s"), list) else [None, None]
    row["estimate_low_s"], row["estimate_high_s"] = (interval + [None, None])[:2]
    row["draws"] = est.get("draws")
    row["host_ratio"] = (est.get("host") or {}).get("ratio") if isinstance(est.get("host"), dict) else None
    return {k: ("" if v is None else (repr(v) if isinstance(v, float) else v)) for k, v in row.items()}


def write_csv(results: dict[str, Any], path: str | Path) -> Path:
    target = Path(path)
    with atomic_path(target) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for entry in results["measurements"]:
                writer.writerow(csv_row(entry))
    return target


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results.json; any problem is a ResultsError naming the file."""
    p = Path(path)
    if p.is_dir():
        if not (p / RESULTS_JSON).is_file():
            raise ResultsError(f"{p}: a folder without {RESULTS_JSON}")
        p = p / RESULTS_JSON
    if not p.exists():
        raise ResultsError(f"{p}: no such results file")
    try:
        results = load_json(p)  # regular file, size and depth bounded, strict JSON
    except UntrustedFileError as exc:
        raise ResultsError(str(exc)) from None
    validate_results(results, str(p))
    return results


def validate_results(results: Any, name: str = "results") -> None:
    """Raise ResultsError (prefixed with `name`) unless `results` is a readable results document."""
    if not isinstance(results, dict):
        kind = type(results).__name__
        raise ResultsError(f"{name}: not a results file (top level is {kind}, not an object)")
    if "schema_version" not in results:
        raise ResultsError(f"{name}: not a results file (missing key 'schema_version')")
    version = results["schema_version"]
    if version not in SUPPORTED_SCHEMA_VERSIONS or isinstance(version, bool):
        supported = ", ".join(map(str, SUPPORTED_SCHEMA_VERSIONS))
        raise ResultsError(
            f"{name}: unknown schema version {version!r} (this linreg-bench reads {supported})"
        )
    for key in TOP_LEVEL_KEYS:
        if key not in results:
            raise ResultsError(f"{name}: missing key {key!r}")
    for key in ("environment", "config", "floors"):
        if not isinstance(results[key], dict):
            raise ResultsError(f"{name}: {key!r} must be an object, got {type(results[key]).__name__}")
    if not isinstance(results["measurements"], list):
        raise ResultsError(f"{name}: 'measurements' must be a list")
    seen: dict[tuple[Any, ...], int] = {}
    for i, entry in enumerate(results["measurements"]):
        _validate_entry(entry, f"{name}: measurements[{i}]")
        key = (entry["phase"], entry_runtime(entry), entry["device"], entry["batch_size"])
        if key in seen:
            label = "/".join(map(str, key))
            raise ResultsError(
                f"{name}: measurements[{i}] duplicates measurements[{seen[key]}] ({label})"
            )
        seen[key] = i


def _validate_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise ResultsError(f"{where} must be an object, got {type(entry).__name__}")
    for key in ENTRY_KEYS:
        if key not in entry:
            raise ResultsError(f"{where} is missing key {key!r}")
    if entry["phase"] not in PHASES:
        raise ResultsError(f"{where}: phase must be one of {', '.join(PHASES)}, got {entry['phase']!r}")
    size = entry["batch_size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ResultsError(f"{where}: batch_size must be an integer >= 1, got {size!r}")
    for key in ("world_size", "threads"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ResultsError(f"{where}: {key} must be an integer >= 1, got {value!r}")
    if "thread_scaling" in entry and (entry["thread_scaling"] is not True or "threads" not in entry):
        raise ResultsError(f"{where}: thread_scaling must be true, beside threads")
    parity = entry["parity"]
    if parity is not None and not (
        isinstance(parity, dict) and all(k in parity for k in ("max_abs_error", "max_ulp", "passed"))
    ):
        raise ResultsError(f"{where}: parity must be null or hold max_abs_error, max_ulp and passed")
    if not isinstance(entry["warnings"], list):
        raise ResultsError(f"{where}: warnings must be a list")
    if "skip_reason" in entry:
        if not isinstance(entry["skip_reason"], str):
            raise ResultsError(f"{where}: skip_reason must be a string")
        return
    if "times_s" not in entry:
        raise ResultsError(f"{where} is missing key 'times_s' (or 'skip_reason')")
    times = entry["times_s"]
    if (not isinstance(times, list) or not times
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times)):
        raise ResultsError(f"{where}: times_s must be a non-empty list of numbers")
    bad = next((t for t in times if not (math.isfinite(t) and t > 0)), None)
    if bad is not None:  # a zero time is no measurement, and it divides every ratio by zero
        raise ResultsError(f"{where}: times_s must be finite and > 0, got {bad!r}")
    for key in ("runtime", "device"):
        if not isinstance(entry[key], str) or "\0" in entry[key]:
            raise ResultsError(f"{where}: {key} must be a string without NUL bytes, got {entry[key]!r:.60}")
    for key in ("latency_s", "memory"):  # v2: flat objects of numbers (or null), read by report/compare
        _validate_numbers(entry.get(key), f"{where}.{key}")


def _validate_numbers(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ResultsError(f"{where} must be an object, got {type(value).__name__}")
    for k, v in value.items():
        if v is not None and not isinstance(v, str) and (not isinstance(v, (int, float)) or isinstance(v, bool)
                                                         or not math.isfinite(v) or v < 0):
            raise ResultsError(f"{where}.{k} must be a number >= 0 or null, got {v!r:.60}")


def measurements_of(results: dict[str, Any]) -> list[Measurement]:
    """The Measurement records of a loaded results document (statistics recomputed from samples)."""
    return [Measurement.from_dict(entry) for entry in results["measurements"]]


def _finite(value: Any) -> Any:
    """A copy with NaN and ±inf replaced by None, so the strict JSON writer accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
