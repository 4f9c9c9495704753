"""Server `--find-peak`: the highest offered QPS that stays VALID under the latency bound.

The way MLPerf submitters search (LoadGen's own FindPeakPerformance mode does the same in C++,
but only reports the boundary, not the curve): double the offered QPS from a starting point
while the result stays VALID, then bisect between the last VALID and the first INVALID rate
until they are within `precision` of each other. Every probe is a full LoadGen test in its own
process, its logs in DIR/peak/qps-<Q>/; the curve of latency percentiles against offered QPS is
kept, and the best VALID probe's logs are copied to DIR.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from bench.scenarios.settings import MAX_QPS, MIN_QPS, LoadgenConfig

MAX_PROBES = 12
MAX_SHRINK = 256  # never probe below start_qps / 256: slow rates take min_query_count / QPS seconds
Probe = Callable[[LoadgenConfig, Path], dict[str, Any]]


def probe_dir(out_dir: Path, qps: float) -> Path:
    return out_dir / "peak" / f"qps-{qps:.6g}"


def search_peak(config: LoadgenConfig, out_dir: Path, probe: Probe, start_qps: float,
                precision: float = 0.1, max_probes: int = MAX_PROBES) -> dict[str, Any]:
    """{"peak_qps", "curve": [probe records by QPS], "best": the best VALID probe or None}."""
    results: dict[float, dict[str, Any]] = {}

    def run(qps: float) -> bool:
        result = probe(replace(config, target_qps=qps), probe_dir(out_dir, qps))
        results[qps] = result
        return bool(result["valid"])

    lo, hi = 0.0, 0.0  # highest VALID and lowest INVALID rate seen (0: none yet)
    qps = start_qps
    while len(results) < max_probes and not hi and qps <= MAX_QPS:  # grow while VALID (within bounds)
        if run(qps):
            lo, qps = qps, qps * 2
        else:
            hi = qps
    while len(results) < max_probes and not lo and hi / 4 >= max(start_qps / MAX_SHRINK, MIN_QPS):  # shrink
        qps = hi / 4
        if run(qps):
            lo = qps
        else:
            hi = qps
    while len(results) < max_probes and lo and hi and hi / lo > 1 + precision:  # bisect
        mid = (lo * hi) ** 0.5  # geometric: rates span orders of magnitude
        if run(mid):
            lo = mid
        else:
            hi = mid
    curve = [curve_point(q, results[q]) for q in sorted(results)]
    return {"peak_qps": lo or None, "first_invalid_qps": hi or None, "precision": precision,
            "probes": len(results), "curve": curve, "best": results.get(lo)}


def curve_point(qps: float, result: dict[str, Any]) -> dict[str, Any]:
    """One point of the p99-vs-QPS curve."""
    return {"offered_qps": qps, "valid": result["valid"], "latency_s": result.get("latency_s"),
            "achieved_qps": result.get("qps"), "reasons": result.get("reasons", [])}


def copy_best_logs(out_dir: Path, peak: dict[str, Any], log_files: tuple[str, ...]) -> None:
    """The best VALID probe's LoadGen logs become DIR's own (its verdict is loadgen.json's)."""
    if not peak["peak_qps"]:
        return
    source = probe_dir(out_dir, peak["peak_qps"])
    for name in log_files:
        if (source / name).exists():
            shutil.copy2(source / name, out_dir / name)
