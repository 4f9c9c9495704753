"""`linreg-bench report A.json B.json ...`: runs of several machines side by side.

One Markdown table: a row per measurement (phase/runtime/device/size), a column per run, each
cell the run's measured time (the first quartile of its draws' medians, else the raw median) with its interval and, from 10^5 elements on,
its bandwidth efficiency against ITS OWN machine's floor. Above it, each machine's floors. This is
the table a CPU run and a GPU run want next to each other; absolute numbers of different machines
are compared here on purpose, and the fingerprints say how the machines differ.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.engine.floors import device_bandwidth
from bench.history.runs import Run, raw_entries, run_of
from bench.history.trends import key_order
from bench.engine.units import format_duration
from bench.store.results import load_results
from linreg.errors import LinregError
from linreg.destinations import check_output_file
from linreg.files import write_text_atomic
from linreg.untrusted import printable


@dataclass(frozen=True)
class Column:
    name: str                       # machine id, made unique with the file name when repeated
    run: Run
    floors: dict[str, Any]
    efficiency: dict[str, float]    # measurement key -> bandwidth efficiency stored by bench


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report",
                              help="put runs of several machines side by side, each with its own floors and efficiency")
    p.add_argument("files", nargs="+", metavar="RESULTS_JSON", help="results.json files, one per run")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="also write the report to FILE")
    p.set_defaults(func=cmd_report)


def load_column(path: Path) -> Column:
    data = load_results(path)
    env = data["environment"]
    machine = str(env.get("machine_id") or path.parent.name or path.stem)
    run = run_of(data, path, machine, str(data.get("run_id") or path.name))
    efficiency = {}
    for key, e in raw_entries(data, run.file).items():
        eff = e.get("bandwidth_efficiency")
        if isinstance(eff, (int, float)) and not isinstance(eff, bool) and math.isfinite(eff):
            efficiency[key] = float(eff)
    return Column(machine, run, data["floors"], efficiency)


def _unique(columns: list[Column]) -> list[Column]:
    seen: dict[str, int] = {}
    for c in columns:
        seen[c.name] = seen.get(c.name, 0) + 1
    return [Column(f"{c.name} ({c.run.path})" if seen[c.name] > 1 else c.name, c.run, c.floors, c.efficiency)
            for c in columns]


def _floor_lines(c: Column) -> list[str]:
    fp = c.run.file.fingerprint
    per_device = c.floors.get("device_bandwidth_bytes_per_s")
    devices = sorted(per_device) if isinstance(per_device, dict) else ["cpu"]
    bandwidth = ", ".join(f"{d} {bw / 1e9:.1f} GB/s" for d in devices
                          if (bw := device_bandwidth(c.floors, d)) is not None) or "none measured"
    return [f"- **{c.name}**: {fp.get('cpu_model', '?')} x{fp.get('cpu_count', '?')}"
            + (f", {fp['gpu_name']}" if fp.get("gpu_name") else "")
            + f"; commit {c.run.short_commit}; torch {fp.get('versions.torch', '?')}, "
            f"threads {fp.get('threads.torch', '?')}",
            f"  floors: empty call {format_duration(c.floors.get('empty_call_s'))}, "
            f"bandwidth (copy) {bandwidth}"]


def _cell(c: Column, key: str) -> str:
    p = c.run.points.get(key)
    if p is None:
        return "–"
    text = f"{format_duration(p.value_s)} [{format_duration(p.low_s)}, {format_duration(p.high_s)}]"
    eff = c.efficiency.get(key)
    return text + (f" · {eff:.0%}" if eff is not None else "")


def render_side_by_side(columns: list[Column]) -> str:
    columns = _unique(columns)
    keys = sorted({k for c in columns for k in c.run.points}, key=key_order)
    labels = {k: c.run.labels[k] for c in columns for k in c.run.points}
    lines = ["# linreg-bench: runs side by side", "",
             "Each cell: the time the run measured (the first quartile of its draws' medians, else "
             "the raw median) [interval] · "
             "bandwidth efficiency against that machine's own floor (from batch 10^5).", "",
             "## Machines and their floors", ""]
    for c in columns:
        lines += _floor_lines(c)
    header = ["measurement", *(c.name for c in columns), "fastest"]
    lines += ["", "## Measurements", "", "| " + " | ".join(header) + " |",
              "|" + "|".join("---" for _ in header) + "|"]
    for key in keys:
        present = [(c.run.points[key].value_s, c.name) for c in columns if key in c.run.points]
        best = min(present)[1] if len(present) > 1 else "–"
        cells = [labels[key], *(_cell(c, key) for c in columns), best]
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def cmd_report(args: argparse.Namespace) -> int:
    if len(args.files) < 1:
        raise LinregError("report needs at least one results.json")
    if args.output:
        check_output_file(args.output, "-o")  # before reading: a device or link is never replaced
    columns = [load_column(Path(f)) for f in args.files]  # every file checked before any output
    text = printable(render_side_by_side(columns))  # names from the files: no terminal escapes
    sys.stdout.write(text)
    if args.output:
        write_text_atomic(args.output, text)
    return 0
