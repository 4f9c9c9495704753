"""report.md's latency-under-load sections: per-request percentiles and memory, and LoadGen's pass.

Only rendered where the results hold them (schema v2): a v1 file renders exactly as before.
"""
from __future__ import annotations

from typing import Any

from bench.engine.units import format_duration, format_size
from bench.report.format import INFERENCE_ORDER, device_rank, runtime_rank
from bench.report.tables import table

HOW_TO_READ_LATENCY = """\
Each request is one call timed on its own (`n` calls; on a GPU with a sync per call), unlike the
medians above, which average blocks of calls. *clock* is the harness's own cost per reading, measured
on an empty call and not subtracted. A percentile with fewer than 10 calls beyond it is marked `~`
(unreliable: p99.9 needs 10,000 calls). *RSS peak* is the worker's peak resident memory above its
baseline, read before the runtime loaded; *CUDA peak* is torch's max_memory_allocated."""


def format_bytes(n: Any) -> str:
    if not isinstance(n, (int, float)) or isinstance(n, bool):
        return "–"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _latency_row(e: dict[str, Any]) -> list[str]:
    lat, memory = e["latency_s"], e.get("memory") or {}
    weak = set(e.get("latency_unreliable") or ())
    cells = [("~" if k in weak else "") + format_duration(lat.get(k)) for k in ("p50", "p90", "p99", "p999")]
    return [format_size(int(e["batch_size"])), e["runtime"], e["device"], *cells,
            format_duration(lat.get("max")), str(lat.get("n", "–")), format_duration(lat.get("clock_overhead_s")),
            format_bytes(memory.get("rss_peak_above_baseline_bytes")),
            format_bytes(memory.get("cuda_max_allocated_bytes"))]


def latency_lines(entries: list[dict[str, Any]]) -> list[str]:
    """The per-request latency and memory table, or nothing for a file without them."""
    rows = [e for e in entries if e.get("phase") == "inference" and isinstance(e.get("latency_s"), dict)]
    if not rows:
        return []
    rows.sort(key=lambda e: (device_rank(e["device"]), int(e["batch_size"]),
                             runtime_rank(e["runtime"], INFERENCE_ORDER)))
    header = ["batch", "runtime", "device", "p50", "p90", "p99", "p99.9", "max", "n", "clock",
              "RSS peak", "CUDA peak"]
    return (["## Inference: per-request latency and memory", "", HOW_TO_READ_LATENCY, ""]
            + table(header, [_latency_row(e) for e in rows]) + [""])


def loadgen_lines(loadgen: Any) -> list[str]:
    """The run's MLPerf LoadGen SingleStream pass: one row per runtime, or why it was skipped."""
    if not isinstance(loadgen, dict):
        return []
    out = ["## Latency under load: MLPerf LoadGen SingleStream, batch 1", ""]
    if loadgen.get("skipped"):
        return out + [f"Skipped: {loadgen['skipped']}", ""]
    rows = []
    for r in sorted(loadgen.get("runs") or [], key=lambda r: runtime_rank(str(r.get("runtime")), INFERENCE_ORDER)):
        lat = r.get("latency_s") or {}
        verdict = "VALID" if r.get("valid") else ("FAILED" if r.get("failed") else "**INVALID**")
        acc = r.get("accuracy") or {}
        rows.append([str(r.get("runtime")), verdict, *(format_duration(lat.get(k)) for k in ("p50", "p90", "p99", "p999")),
                     "–" if r.get("qps") is None else f"{r['qps']:.3g}",
                     f"{acc.get('checked', 0) - acc.get('mismatches', 0)}/{acc.get('checked', 0)}",
                     "; ".join(r.get("reasons") or []) or "–"])
    out += [f"{loadgen.get('duration_s', '?')} s per runtime (LoadGen's min_duration); accuracy: responses "
            "LoadGen logged during the timed run that match the state_dict model.", ""]
    return out + table(["runtime", "verdict", "p50", "p90", "p99", "p99.9", "QPS", "accurate", "reasons"], rows) + [""]
