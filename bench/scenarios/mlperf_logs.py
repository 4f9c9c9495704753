"""Reading what LoadGen wrote: the detail log's results and the accuracy log's responses.

mlperf_log_detail.txt holds one `:::MLLOG {json}` line per event; the results are the `result_*`
keys (validity, invalid reason, latency percentiles in ns, QPS), errors and warnings carry
metadata flags. mlperf_log_accuracy.json lists the responses LoadGen sampled during the timed run
as {"seq_id", "qsl_idx", "data": hex bytes}. Both are read as untrusted text: bounded, typed.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

MAX_LOG_BYTES = 256 * 1024 * 1024
PREFIX = ":::MLLOG "
# LoadGen's percentile keys -> ours
PERCENTILE_KEYS = (("p50", "50.00"), ("p90", "90.00"), ("p99", "99.00"), ("p999", "99.90"))


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_LOG_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_LOG_BYTES} bytes")
    return path.read_text(errors="replace")


def read_detail(path: Path) -> dict[str, Any]:
    """{key: value} of the detail log's events, plus "errors" and "warnings" (their messages)."""
    out: dict[str, Any] = {"errors": [], "warnings": []}
    for line in _read_text(path).splitlines():
        if not line.startswith(PREFIX):
            continue
        try:
            event = json.loads(line[len(PREFIX):])
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict) or not isinstance(event.get("key"), str):
            continue
        meta = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        if meta.get("is_error"):
            out["errors"].append(str(event.get("value")))
        elif meta.get("is_warning"):
            out["warnings"].append(str(event.get("value")))
        out[event["key"]] = event.get("value")
    return out


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def latency_of(detail: dict[str, Any]) -> dict[str, float]:
    """LoadGen's latency percentiles and max, in seconds (per query for multi-stream)."""
    per_query = "result_50.00_percentile_per_query_latency_ns" in detail
    kind = "percentile_per_query_latency_ns" if per_query else "percentile_latency_ns"
    out = {name: _number(detail.get(f"result_{q}_{kind}")) * 1e-9 for name, q in PERCENTILE_KEYS}
    out["max"] = _number(detail.get("result_max_query_latency_ns" if per_query
                                     else "result_max_latency_ns")) * 1e-9
    return out


def qps_of(detail: dict[str, Any]) -> float:
    """The scenario's throughput figure: samples/s (offline, server) or queries/s (streams)."""
    for key in ("result_samples_per_second", "result_completed_samples_per_sec",
                "result_qps_with_loadgen_overhead"):
        if key in detail:
            return _number(detail[key])
    # multi-stream reports no rate; its queries run one after another: 1 / mean query latency
    mean_ns = _number(detail.get("result_mean_latency_ns"))
    return 1e9 / mean_ns if mean_ns > 0 else math.nan


def read_accuracy(path: Path) -> list[tuple[int, np.ndarray]]:
    """(qsl_idx, float32 values) of each response LoadGen logged; malformed entries are errors."""
    entries = json.loads(_read_text(path) or "[]")
    if not isinstance(entries, list):
        raise ValueError(f"{path.name}: not a JSON list")
    out = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("qsl_idx"), int) \
                or not isinstance(e.get("data"), str):
            raise ValueError(f"{path.name}: malformed entry {str(e)[:80]}")
        raw = bytes.fromhex(e["data"])
        out.append((e["qsl_idx"], np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4")))
    return out
