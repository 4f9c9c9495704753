"""report.md: the fingerprint, floors, parity verdicts, tables with speedups, warnings, skips, plots.

Built from a results document alone (as torch.utils.benchmark's Compare builds from labels), so a
report can be regenerated from any stored results.json. Speedups compare runtimes within one
device at one size; absolute numbers are only comparable across runs with equal fingerprints.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.engine.estimate import QUIET_HOST
from bench.engine.ladder import LADDER_KEY
from bench.engine.measurement import entry_runtime
from bench.engine.units import format_duration, format_size
from bench.report.answer import answer_lines, host_moved_of
from bench.report.format import (BYTES_PER_SAMPLE, INFERENCE_ORDER, LATENCY_PLOT_FILES, PLOT_FILES,
                                 PLOT_TITLES, REPORT_MD, SCALING_PNG, TRAIN_ORDER, device_rank,
                                 runtime_rank)
from bench.report.latency_tables import latency_lines, loadgen_lines
from bench.report.scaling import scaling_lines
from bench.report.thread_scaling import by_thread_count, thread_scaling_lines
from bench.report.tables import (environment_lines, floor_lines, fmt, label, parity_text,
                                 speedup_matrix, table, timing_rows)
from bench.store.counts import counts_of
from bench.store.results import parity_failed_entries, summarize
from linreg.files import write_text_atomic

Entries = list[dict[str, Any]]

HOW_TO_READ = """\
- Every number is the **median** of raw samples (each sample averages `calls_per_sample` calls so it
  stays far above the timer's resolution); **± IQR** is the spread between the 25th and 75th
  percentiles of those samples. An IQR above ~10% of the median means the machine was noisy: see
  *Stability warnings*.
- **Speedup** is the eager median divided by this row's median, at the same size and on the same
  device (>1× is faster than eager). Speedups compare runtimes within one device and one run;
  absolute times from another machine, device or thread count are not comparable.
- **Efficiency** is bytes moved per second against the row's own device's floor, measured in
  this run: on cpu the **roofline**, the best of a read-only reduction, a copy and a triad in
  numpy and torch; on a GPU a device-to-device copy (– where the device has no floor), at
  {BYTES} bytes per sample: read x, write y. It only means something at large sizes. Above 100%
  the roofline is wrong (an error of the floor, flagged under *The answer*).
- **The answer** comes first: each measurement ran in several worker processes interleaved
  round-robin, each timing fresh instances (draws); its time is the first quartile of the draws'
  medians (the run's fast state) with a 95% interval across draws. A runtime is named fastest
  only where its interval separates from the runner-up's; otherwise the runtimes tie. The host-normalised ratio in results.json
  (`estimate.host`) is for comparing runs, never shown as a time.
- **Parity**: before timing, each runtime's outputs (or each training variant's final parameters)
  were compared with the reference; the verdict, max abs error and ULP distance are recorded.
- Compile time (`torch.compile`; graph capture for CUDA graphs) is the first call at a size. It is
  reported separately and is not part of the median.
""".replace("{BYTES}", str(BYTES_PER_SAMPLE))



def _host_sentence(entries: Entries) -> str:
    """How many measurements ran while the host moved (estimate.host.host_moved), where known."""
    known = [m for m in map(host_moved_of, entries) if m is not None]
    if not known:
        return ""
    busy = sum(m > QUIET_HOST for m in known)
    return (f" The host moved more than {QUIET_HOST - 1:.0%} during {busy} of {len(known)} measurements"
            " (their companion's fixed reference): there the raw median holds slow phases, and the"
            " published time is the fast state.")


def _summary_lines(results: dict[str, Any], entries: Entries) -> list[str]:
    summary = summarize(entries)
    failed = parity_failed_entries(entries)
    out = ["# linreg-bench report", ""]
    out.append(f"Run of {results.get('created_utc', '?')} "
               f"(results schema v{results.get('schema_version', '?')}): "
               f"{summary['measured']} measured, {summary['skipped']} skipped, "
               f"{summary['parity_failed']} parity failures, {summary['warned']} with stability warnings."
               + _host_sentence(entries))
    out.append("")
    if failed:
        out += [f"> **PARITY FAILED for {len(failed)} measurement(s).** Their timings are not comparable: "
                "the runtime computes something else.", ">"]
        for e in failed:
            p = e["parity"]
            out.append(f"> - `{label(e)}`: max_abs_error {p.get('max_abs_error')}, "
                       f"max_ulp {p.get('max_ulp')}"
                       f" (tolerance: {p.get('tolerance', '?')})")
        out.append("")
    else:
        parity_count = sum(1 for e in entries if e.get("parity"))
        out += [f"All {parity_count} parity checks passed." if parity_count
                else "No parity checks ran.", ""]
    return out


def _parity_lines(entries: Entries) -> list[str]:
    out = ["## Parity", ""]
    checked = [e for e in entries if e.get("parity")]
    if not checked:
        return out + ["(no parity checks recorded)", ""]
    checked.sort(key=lambda e: (bool(e["parity"].get("passed")), e["phase"] != "train_epoch",
                                device_rank(e["device"]), e["runtime"], int(e["batch_size"])))
    rows = [[e["phase"], e["runtime"], e["device"], format_size(int(e["batch_size"])),
             fmt(e["parity"].get("max_abs_error")), fmt(e["parity"].get("max_ulp")),
             fmt(e["parity"].get("tolerance")), parity_text(e["parity"])] for e in checked]
    header = ["phase", "runtime", "device", "size", "max_abs_error", "max_ulp", "tolerance", "verdict"]
    out += table(header, rows)
    references = sorted({e["parity"].get("reference") for e in checked if e["parity"].get("reference")})
    if references:
        out += ["", "References: " + "; ".join(references) + "."]
    return out + [""]


def _timing_lines(entries: Entries, floors: dict[str, Any]) -> list[str]:
    train = [e for e in entries if e["phase"] == "train_epoch"]
    inference = [e for e in entries if e["phase"] == "inference"]
    out: list[str] = []
    if train:
        out += ["## Training: time per epoch", ""] + speedup_matrix(train, TRAIN_ORDER, "N")
        out += table(["N", "variant", "device", "median ± IQR", "speedup vs eager", "compile/capture",
                      "efficiency", "faults/epoch", "parity", "warn"],
                     timing_rows(train, floors, training=True)) + [""]
    if inference:
        out += ["## Inference: latency per call", ""] + speedup_matrix(inference, INFERENCE_ORDER, "batch")
        out += table(["batch", "runtime", "device", "median latency ± IQR", "samples/s", "speedup vs eager",
                      "compile time", "efficiency", "faults/call", "parity", "warn"],
                     timing_rows(inference, floors, training=False)) + [""]
    return out


def _skipped_lines(entries: Entries, absent: list[str]) -> list[str]:
    """A GPU-less run skips every runtime at every size alike: one line per phase, device and reason."""
    out = ["## Skipped", ""]
    if absent:
        out.append(f"- not measured (default devices this machine lacks): {'; '.join(absent)}")
    sizes_of: dict[tuple[str, str, str, str], list[int]] = {}
    for e in (e for e in entries if "skip_reason" in e):
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
    if not groups and not absent:
        out.append("Nothing was skipped.")
    return out + [""]


def _answer_and_timing(raw: Entries, entries: Entries, floors: dict[str, Any], ladder: Any = None) -> list[str]:
    """The answer first, then the timing tables; a run of several thread counts gets them once per
    count (speedups against eager at the same count), then the thread-scaling table."""
    groups = by_thread_count(raw)
    if len(groups) < 2:
        return answer_lines(entries, floors, ladder) + _timing_lines(entries, floors)
    out: list[str] = []
    for threads, group in groups.items():
        out += [f"# At {threads} thread{'s' * (threads > 1)}", ""]
        out += answer_lines(group, floors, ladder) + _timing_lines(group, floors)
    return out + thread_scaling_lines(raw)


def _instruction_lines(entries: Entries) -> list[str]:
    """`--metric instructions`: each counted measurement's instructions per call, beside its time."""
    rows, skipped = [], {}
    for e in entries:
        record = e.get("instructions")
        counts = counts_of(record)
        if counts is not None and counts.counted:
            rows.append([f"`{label(e)}`", f"{e.get('instructions_per_call', 0):,.0f}",
                         f"{counts.spread:.2%}", str(counts.calls), _duration(e.get("median_s"))])
        elif counts is not None:
            skipped[counts.skip_reason] = skipped.get(counts.skip_reason, 0) + 1
    if not rows and not skipped:
        return []
    method = next((e["instructions"] for e in entries if "repeats_per_call" in (e.get("instructions") or {})),
                  {})
    out = ["## Instruction counts (Callgrind)", "",
           f"Per call, the median of {method.get('repeats', 2)} repeats, an empty loop of the same calls "
           f"subtracted; {method.get('valgrind', 'valgrind')}, one thread. Wall time beside, not mixed.", ""]
    out += table(["measurement", "instructions per call", "repeats' spread", "calls", "median time"], rows)
    out += [""] + [f"- not counted ({n}): {reason}" for reason, n in skipped.items()]
    return out + ([""] if skipped else [])


def _duration(value: Any) -> str:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return format_duration(value) if ok else "-"


def render_report(results: dict[str, Any], plots: list[str] | None = None) -> str:
    """The report's Markdown; `plots` are file names (relative to the report) to embed."""
    # A data-parallel entry shows as its own runtime per world size (ddp-ws2): one row each.
    entries = [{**e, "runtime": entry_runtime(e)} for e in results.get("measurements", [])]
    floors = results.get("floors") or {}
    out = _summary_lines(results, entries)
    if results.get("partial"):
        out += [f"> **PARTIAL RUN** ({results.get('partial_reason', 'interrupted')}): only what"
                " finished is here; not a baseline.", ""]
    out += _answer_and_timing(results.get("measurements", []), entries, floors,
                              results.get(LADDER_KEY))
    out += ["## How to read this", "", HOW_TO_READ]
    if parity_failed_entries(entries):  # otherwise the summary's one line says it
        out += _parity_lines(entries)
    out += ["## Environment", ""] + environment_lines(results.get("environment") or {}) + [""]
    out += ["## Floors (measured in this run)", ""] + floor_lines(floors) + [""]
    out += scaling_lines(results.get("measurements", []))
    out += latency_lines(entries) + loadgen_lines(results.get("loadgen")) + _instruction_lines(entries)
    warned = [e for e in entries if e.get("warnings")]
    out += ["## Stability warnings", ""]
    out += [f"- `{label(e)}`: " + "; ".join(e["warnings"]) for e in warned] or ["None."]
    out.append("")
    out += _skipped_lines(entries, [str(a) for a in results.get("config", {}).get("absent_devices") or ()])
    if plots:
        out += ["## Plots", ""]
        for name in plots:
            out += [f"![{PLOT_TITLES.get(name, name)}]({name})", ""]
    config = results.get("config")
    if config:
        rows = [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in config.items()]
        out += ["## Config", ""] + table(["setting", "value"], rows) + [""]
    return "\n".join(out).rstrip() + "\n"


def write_report(results: dict[str, Any], out_dir: str | Path) -> Path:
    """Write report.md into out_dir, embedding the plots already written there."""
    out = Path(out_dir)
    plots = [name for name in (*PLOT_FILES, SCALING_PNG, *LATENCY_PLOT_FILES) if (out / name).is_file()]
    path = out / REPORT_MD
    write_text_atomic(path, render_report(results, plots))
    return path
