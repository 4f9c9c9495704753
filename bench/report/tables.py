"""The tables of report.md: environment, floors, timing rows with speedups, speedup matrices."""
from __future__ import annotations

from typing import Any

from bench.engine.floors import LARGE_BATCH, device_bandwidth
from bench.engine.units import format_bytes_per_s, format_duration, format_rate, format_size, missing
from bench.report.format import INFERENCE_ORDER, TRAIN_ORDER, device_rank, runtime_rank

BASELINE = "eager"        # the speedup reference: the tutorial's eager loop / eager no_grad inference


def parity_text(p: dict[str, Any] | None) -> str:
    if not p:
        return "–"
    return "PASS" if p.get("passed") else "**FAIL**"


def _efficiency(entry: dict[str, Any], floors: dict[str, Any] | None) -> float | None:
    """Efficiency against the copy floor of the entry's OWN device; None where it has none."""
    bandwidth = device_bandwidth(floors, entry["device"])
    eff = entry.get("bandwidth_efficiency")
    if bandwidth and not missing(eff):
        return float(eff)
    if not bandwidth:
        return None
    rate = entry.get("bytes_per_s")
    if missing(rate) and entry.get("bytes_moved") and entry.get("median_s"):
        rate = entry["bytes_moved"] / entry["median_s"]
    return None if missing(rate) else float(rate) / bandwidth


def label(e: dict[str, Any]) -> str:
    return f"{e['phase']}/{e['runtime']}/{e['device']}/{format_size(int(e['batch_size']))}"


def _sorted(entries: list[dict[str, Any]], order: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (device_rank(e["device"]), int(e["batch_size"]),
                                          runtime_rank(e["runtime"], order)))


def _cell(text: Any) -> str:
    """A table cell: a `|` (e.g. in a path) would end the cell, a newline the row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(map(_cell, r)) + " |" for r in rows]


def fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return "0" if x == 0 else f"{x:.3g}"
    if isinstance(x, dict):
        return ", ".join(f"{k}={v}" for k, v in x.items()) or "(defaults)"
    return str(x)


def environment_lines(env: dict[str, Any]) -> list[str]:
    git = env.get("git") or {}
    commit = git.get("commit")
    commit_text = "–"
    if commit:
        commit_text = f"`{commit[:12]}`" + (" (dirty: uncommitted changes)" if git.get("dirty") else " (clean)")
    gpu = env.get("gpu_name")
    gpu_text = "none"
    if gpu:
        gpu_text = f"{gpu} (driver {fmt(env.get('gpu_driver'))}, CUDA {fmt(env.get('cuda_version'))})"
    # Nested versions/threads as bench writes them; linreg's flat collect_environment keys otherwise.
    versions = env.get("versions") or {k: env[k] for k in ("torch", "numpy", "python") if env.get(k)}
    threads = env.get("threads") or ({"torch": env["torch_threads"]} if env.get("torch_threads") else {})
    rows = [
        ["CPU", f"{fmt(env.get('cpu_model'))} ({fmt(env.get('cpu_count'))} CPUs available)"],
        ["GPU", gpu_text],
        ["Versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or "–"],
        ["Threads", ", ".join(f"{k} {v}" for k, v in threads.items()) or "–"],
        ["Allocator", fmt(env.get("allocator")) if "allocator" in env else "–"],
        ["Git commit", commit_text],
    ]
    if env.get("platform"):
        rows.append(["Platform", str(env["platform"])])
    return table(["", ""], rows)


def floor_lines(floors: dict[str, Any]) -> list[str]:
    rows = []
    for key, value in floors.items():
        if isinstance(value, list):
            text = "; ".join(map(str, value)) or "none"
        elif isinstance(value, dict) and key.endswith("bytes_per_s"):
            text = ", ".join(f"{k}: {format_bytes_per_s(v)}" for k, v in value.items()) or "none"
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            text = fmt(value)
        elif key.endswith("bytes_per_s"):
            text = format_bytes_per_s(value)
        elif key.endswith("_s"):
            text = format_duration(value)
        elif key.endswith("_bytes"):
            text = f"{value / 1e6:.0f} MB"
        else:
            text = fmt(value)
        rows.append([key, text])
    return table(["floor", "value"], rows) if rows else ["(no floors recorded)"]


def _speedup(entry: dict[str, Any], baselines: dict[tuple[str, int], float]) -> str:
    base = baselines.get((entry["device"], int(entry["batch_size"])))
    if base is None or not entry.get("median_s"):
        return "–"
    if entry["runtime"] == BASELINE:
        return "1.00× (baseline)"
    return f"{base / entry['median_s']:.2f}×"


def _compile_text(e: dict[str, Any]) -> str:
    if e.get("compile_s") is None:
        return "–"
    note = e.get("compile_cache")
    return format_duration(e["compile_s"]) + (f" ({note})" if note in ("cold", "warm") else "")


def timing_rows(entries: list[dict[str, Any]], floors: dict[str, Any], training: bool) -> list[list[str]]:
    measured = [e for e in entries if "skip_reason" not in e and e.get("median_s")]
    baselines = {(e["device"], int(e["batch_size"])): e["median_s"]
                 for e in measured if e["runtime"] == BASELINE}
    rows = []
    for e in _sorted(measured, TRAIN_ORDER if training else INFERENCE_ORDER):
        median, iqr = e["median_s"], e.get("iqr_s")
        unit = format_duration(median).split()[-1]
        spread = f"{format_duration(median)} ± {format_duration(iqr, unit)}"
        eff = _efficiency(e, floors) if int(e["batch_size"]) >= LARGE_BATCH else None
        faults = e.get("minor_faults_per_call")
        row = [format_size(int(e["batch_size"])), e["runtime"], e["device"], spread]
        if not training:
            row.append(format_rate(int(e["batch_size"]) / median).replace("/s", ""))
        row += [
            _speedup(e, baselines),
            _compile_text(e),
            "–" if eff is None else f"{eff:.0%}",
            "–" if missing(faults) else (f"{faults:.3g}" if faults < 1000 else f"{faults:.0f}"),
            parity_text(e.get("parity")),
            "⚠" if e.get("warnings") else "",
        ]
        rows.append(row)
    return rows


def speedup_matrix(entries: list[dict[str, Any]], order: tuple[str, ...], size_name: str) -> list[str]:
    """runtime × size grid of speedups vs eager, one per device: the table to read first."""
    measured = [e for e in entries if "skip_reason" not in e and e.get("median_s")]
    lines: list[str] = []
    for device in sorted({e["device"] for e in measured}, key=device_rank):
        here = [e for e in measured if e["device"] == device]
        sizes = sorted({int(e["batch_size"]) for e in here})
        base = {int(e["batch_size"]): e["median_s"] for e in here if e["runtime"] == BASELINE}
        if not base:  # e.g. a `ddp` run: no eager loop on this device, no speedup to show
            continue
        runtimes = sorted({e["runtime"] for e in here}, key=lambda r: runtime_rank(r, order))
        cell = {(e["runtime"], int(e["batch_size"])): e["median_s"] for e in here}
        rows = []
        for r in runtimes:
            row = [r]
            for s in sizes:
                m = cell.get((r, s))
                row.append("–" if m is None or s not in base else f"{base[s] / m:.2f}×")
            rows.append(row)
        lines += [f"Speedup vs eager on `{device}` (>1× is faster):", ""]
        lines += table([f"runtime \\ {size_name}"] + [format_size(s) for s in sizes], rows) + [""]
    return lines
