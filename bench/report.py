"""report.md: the fingerprint, floors, parity verdicts, tables with speedups, warnings, skips, plots.

Built from a results document alone (as torch.utils.benchmark's Compare builds from labels), so a
report can be regenerated from any stored results.json. Speedups compare runtimes within one
device at one size; absolute numbers are only comparable across runs with equal fingerprints.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.plots import (
    BYTES_PER_SAMPLE, INFERENCE_ORDER, LATENCY_PNG, THROUGHPUT_PNG, TRAIN_ORDER, TRAIN_PNG,
    device_rank, runtime_rank,
)
from bench.floors import device_bandwidth
from bench.results import summarize
from linreg.files import write_text_atomic

REPORT_MD = "report.md"
BASELINE = "eager"        # the speedup reference: the tutorial's eager loop / eager no_grad inference
LARGE_BATCH = 100_000     # below this the data sits in cache and bandwidth efficiency means little

_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
_SI = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def _sig3(value: float) -> str:
    """Three significant digits without exponent: 7.10, 71.2, 712, 1234."""
    if abs(value) >= 99.95:  # "#.3g" would print "100." here
        return f"{value:.0f}"
    return f"{value:#.3g}"


def format_duration(seconds: float | None, unit: str | None = None) -> str:
    """Seconds in human units with 3 significant digits: 25.0 ns, 7.12 µs, 1.30 ms, 2.35 s.

    `unit` ("s", "ms", "µs", "ns") forces a unit, e.g. to print an IQR in its median's unit.
    """
    if _missing(seconds):
        return "–"
    if seconds == 0:
        return "0 s"
    scales = dict(_UNITS)
    if unit is None or abs(seconds) / scales[unit] < 0.1:  # "34.0 µs" reads better than "0.0340 ms"
        unit = next((n for n, s in _UNITS if abs(seconds) >= s * 0.9995), "ns")
    return f"{_sig3(seconds / scales[unit])} {unit}"


def format_rate(per_s: float | None) -> str:
    """A count per second with an SI prefix: 7.52 M/s."""
    if _missing(per_s):
        return "–"
    prefix, scale = next(((p, s) for p, s in _SI if abs(per_s) >= s * 0.9995), ("", 1.0))
    return f"{_sig3(per_s / scale)} {prefix}/s" if prefix else f"{_sig3(per_s)}/s"


def format_bytes_per_s(bytes_per_s: float | None) -> str:
    if _missing(bytes_per_s):
        return "–"
    return f"{bytes_per_s / 1e9:.1f} GB/s"


def format_size(n: int) -> str:
    """1, 1000, 10^6: powers of ten from 10^4 up as exponents, other large sizes with separators."""
    if n >= 10_000 and 10 ** round(math.log10(n)) == n:
        return f"10^{round(math.log10(n))}"
    return str(n) if n < 10_000 else f"{n:,}"


def _parity_text(p: dict[str, Any] | None) -> str:
    if not p:
        return "–"
    return "PASS" if p.get("passed") else "**FAIL**"


def _efficiency(entry: dict[str, Any], floors: dict[str, Any] | None) -> float | None:
    """Efficiency against the copy floor of the entry's OWN device; None where it has none."""
    bandwidth = device_bandwidth(floors, entry["device"])
    eff = entry.get("bandwidth_efficiency")
    if bandwidth and not _missing(eff):
        return float(eff)
    if not bandwidth:
        return None
    rate = entry.get("bytes_per_s")
    if _missing(rate) and entry.get("bytes_moved") and entry.get("median_s"):
        rate = entry["bytes_moved"] / entry["median_s"]
    return None if _missing(rate) else float(rate) / bandwidth


def _label(e: dict[str, Any]) -> str:
    return f"{e['phase']}/{e['runtime']}/{e['device']}/{format_size(int(e['batch_size']))}"


def _sorted(entries: list[dict[str, Any]], order: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (device_rank(e["device"]), int(e["batch_size"]),
                                          runtime_rank(e["runtime"], order)))


def _cell(text: Any) -> str:
    """A table cell: a `|` (e.g. in a path) would end the cell, a newline the row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(map(_cell, r)) + " |" for r in rows]


def _get(d: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)  # type: ignore[assignment]
    return d


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return "0" if x == 0 else f"{x:.3g}"
    if isinstance(x, dict):
        return ", ".join(f"{k}={v}" for k, v in x.items()) or "(defaults)"
    return str(x)


def _environment_lines(env: dict[str, Any]) -> list[str]:
    git = env.get("git") or {}
    commit = git.get("commit")
    commit_text = "–"
    if commit:
        commit_text = f"`{commit[:12]}`" + (" (dirty: uncommitted changes)" if git.get("dirty") else " (clean)")
    gpu = env.get("gpu_name")
    gpu_text = "none"
    if gpu:
        gpu_text = f"{gpu} (driver {_fmt(env.get('gpu_driver'))}, CUDA {_fmt(env.get('cuda_version'))})"
    # Nested versions/threads as bench writes them; linreg's flat collect_environment keys otherwise.
    versions = env.get("versions") or {k: env[k] for k in ("torch", "numpy", "python") if env.get(k)}
    threads = env.get("threads") or ({"torch": env["torch_threads"]} if env.get("torch_threads") else {})
    rows = [
        ["CPU", f"{_fmt(env.get('cpu_model'))} ({_fmt(env.get('cpu_count'))} CPUs available)"],
        ["GPU", gpu_text],
        ["Versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or "–"],
        ["Threads", ", ".join(f"{k} {v}" for k, v in threads.items()) or "–"],
        ["Allocator", _fmt(env.get("allocator")) if "allocator" in env else "–"],
        ["Git commit", commit_text],
    ]
    if env.get("platform"):
        rows.append(["Platform", str(env["platform"])])
    return _table(["", ""], rows)


def _floor_lines(floors: dict[str, Any]) -> list[str]:
    rows = []
    for key, value in floors.items():
        if isinstance(value, list):
            text = "; ".join(map(str, value)) or "none"
        elif isinstance(value, dict) and key.endswith("bytes_per_s"):
            text = ", ".join(f"{k}: {format_bytes_per_s(v)}" for k, v in value.items()) or "none"
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            text = _fmt(value)
        elif key.endswith("bytes_per_s"):
            text = format_bytes_per_s(value)
        elif key.endswith("_s"):
            text = format_duration(value)
        elif key.endswith("_bytes"):
            text = f"{value / 1e6:.0f} MB"
        else:
            text = _fmt(value)
        rows.append([key, text])
    return _table(["floor", "value"], rows) if rows else ["(no floors recorded)"]


HOW_TO_READ = """\
- Every number is the **median** of raw samples (each sample averages `calls_per_sample` calls so it
  stays far above the timer's resolution); **± IQR** is the spread between the 25th and 75th
  percentiles of those samples. An IQR above ~10% of the median means the machine was noisy: see
  *Stability warnings*.
- **Speedup** is the eager median divided by this row's median, at the same size and on the same
  device (>1× is faster than eager). Speedups compare runtimes within one device and one run;
  absolute times from another machine, device or thread count are not comparable.
- **Efficiency** is bytes moved per second against the copy bandwidth of the row's own device,
  measured in this run (host memory for cpu, a device-to-device copy on a GPU; – where the device
  has no such floor), at {BYTES} bytes per sample: read x, write y. It only means something at large sizes; above 100%
  the working set fits in a cache faster than memory.
- **Parity**: before timing, each runtime's outputs (or each training variant's final parameters)
  were compared with the reference; the verdict, max abs error and ULP distance are recorded.
- Compile time (`torch.compile`; graph capture for CUDA graphs) is the first call at a size. It is
  reported separately and is not part of the median.
""".replace("{BYTES}", str(BYTES_PER_SAMPLE))


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


def _timing_rows(entries: list[dict[str, Any]], floors: dict[str, Any], training: bool) -> list[list[str]]:
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
            "–" if _missing(faults) else (f"{faults:.3g}" if faults < 1000 else f"{faults:.0f}"),
            _parity_text(e.get("parity")),
            "⚠" if e.get("warnings") else "",
        ]
        rows.append(row)
    return rows


def _speedup_matrix(entries: list[dict[str, Any]], order: tuple[str, ...], size_name: str) -> list[str]:
    """runtime × size grid of speedups vs eager, one per device: the table to read first."""
    measured = [e for e in entries if "skip_reason" not in e and e.get("median_s")]
    lines: list[str] = []
    for device in sorted({e["device"] for e in measured}, key=device_rank):
        here = [e for e in measured if e["device"] == device]
        sizes = sorted({int(e["batch_size"]) for e in here})
        base = {int(e["batch_size"]): e["median_s"] for e in here if e["runtime"] == BASELINE}
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
        lines += _table([f"runtime \\ {size_name}"] + [format_size(s) for s in sizes], rows) + [""]
    return lines


def render_report(results: dict[str, Any], plots: list[str] | None = None) -> str:
    """The report's Markdown; `plots` are file names (relative to the report) to embed."""
    entries = results.get("measurements", [])
    env = results.get("environment") or {}
    floors = results.get("floors") or {}
    summary = summarize(entries)
    failed = [e for e in entries if e.get("parity") and not e["parity"].get("passed")]
    warned = [e for e in entries if e.get("warnings")]
    skipped = [e for e in entries if "skip_reason" in e]
    train = [e for e in entries if e["phase"] == "train_epoch"]
    inference = [e for e in entries if e["phase"] == "inference"]

    out = ["# linreg-bench report", ""]
    out.append(f"Run of {results.get('created_utc', '?')} "
               f"(results schema v{results.get('schema_version', '?')}): "
               f"{summary['measured']} measured, {summary['skipped']} skipped, "
               f"{summary['parity_failed']} parity failures, {summary['warned']} with stability warnings.")
    out.append("")
    if failed:
        out += [f"> **PARITY FAILED for {len(failed)} measurement(s).** Their timings are not comparable: "
                "the runtime computes something else.", ">"]
        for e in failed:
            p = e["parity"]
            out.append(f"> - `{_label(e)}`: max_abs_error {p.get('max_abs_error')}, "
                       f"max_ulp {p.get('max_ulp')}"
                       f" (tolerance: {p.get('tolerance', '?')})")
        out.append("")
    else:
        parity_count = sum(1 for e in entries if e.get("parity"))
        out += [f"All {parity_count} parity checks passed." if parity_count
                else "No parity checks ran.", ""]

    out += ["## Environment", ""] + _environment_lines(env) + [""]
    out += ["## Floors (measured in this run)", ""] + _floor_lines(floors) + [""]
    out += ["## How to read this", "", HOW_TO_READ]

    out += ["## Parity", ""]
    checked = [e for e in entries if e.get("parity")]
    if checked:
        checked.sort(key=lambda e: (bool(e["parity"].get("passed")), e["phase"] != "train_epoch",
                                    device_rank(e["device"]), e["runtime"], int(e["batch_size"])))
        rows = [[e["phase"], e["runtime"], e["device"], format_size(int(e["batch_size"])),
                 _fmt(e["parity"].get("max_abs_error")), _fmt(e["parity"].get("max_ulp")),
                 _fmt(e["parity"].get("tolerance")), _parity_text(e["parity"])] for e in checked]
        header = ["phase", "runtime", "device", "size", "max_abs_error", "max_ulp", "tolerance", "verdict"]
        out += _table(header, rows)
        references = sorted({e["parity"].get("reference") for e in checked if e["parity"].get("reference")})
        if references:
            out += ["", "References: " + "; ".join(references) + "."]
    else:
        out.append("(no parity checks recorded)")
    out.append("")

    if train:
        out += ["## Training: time per epoch", ""] + _speedup_matrix(train, TRAIN_ORDER, "N")
        out += _table(["N", "variant", "device", "median ± IQR", "speedup vs eager", "compile/capture",
                       "efficiency", "faults/epoch", "parity", "warn"],
                      _timing_rows(train, floors, training=True)) + [""]
    if inference:
        out += ["## Inference: latency per call", ""] + _speedup_matrix(inference, INFERENCE_ORDER, "batch")
        out += _table(["batch", "runtime", "device", "median latency ± IQR", "samples/s", "speedup vs eager",
                       "compile time", "efficiency", "faults/call", "parity", "warn"],
                      _timing_rows(inference, floors, training=False)) + [""]

    out += ["## Stability warnings", ""]
    out += [f"- `{_label(e)}`: " + "; ".join(e["warnings"]) for e in warned] or ["None."]
    out.append("")
    out += ["## Skipped", ""]
    # A GPU-less run skips every runtime at every size alike: one line per phase, device and reason.
    sizes_of: dict[tuple[str, str, str, str], list[int]] = {}
    for e in skipped:
        key = (e["phase"], e["device"], e["skip_reason"], e["runtime"])
        sizes_of.setdefault(key, []).append(int(e["batch_size"]))
    groups: dict[tuple[str, str, str, tuple[int, ...]], list[str]] = {}
    for (phase, device, reason, runtime), sizes in sizes_of.items():
        groups.setdefault((phase, device, reason, tuple(sorted(sizes))), []).append(runtime)
    for (phase, device, reason, sizes), runtimes in groups.items():
        what = "N" if phase == "train_epoch" else "batch"
        order = TRAIN_ORDER if phase == "train_epoch" else INFERENCE_ORDER
        names = ", ".join(sorted(runtimes, key=lambda r: runtime_rank(r, order)))
        at = ", ".join(map(format_size, sizes))
        out.append(f"- {phase} on `{device}`: {names} at {what} {at}: {reason}")
    if not groups:
        out.append("Nothing was skipped.")
    out.append("")

    if plots:
        titles = {LATENCY_PNG: "Inference latency against batch size",
                  THROUGHPUT_PNG: "Inference throughput against batch size",
                  TRAIN_PNG: "Training epoch time against N"}
        out += ["## Plots", ""]
        for name in plots:
            out += [f"![{titles.get(name, name)}]({name})", ""]

    config = results.get("config")
    if config:
        rows = [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in config.items()]
        out += ["## Config", ""] + _table(["setting", "value"], rows) + [""]
    return "\n".join(out).rstrip() + "\n"


def write_report(results: dict[str, Any], out_dir: str | Path) -> Path:
    """Write report.md into out_dir, embedding the plots already written there."""
    out = Path(out_dir)
    plots = [name for name in (LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG) if (out / name).is_file()]
    path = out / REPORT_MD
    write_text_atomic(path, render_report(results, plots))
    return path
