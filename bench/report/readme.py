"""The README's measured tables, generated from committed files: `python -m bench.report.readme`.

A generated block sits between two markers, and its text is whatever the marker's source gives:
    <!-- generated: reference-cpu inference -->   ...   <!-- /generated -->
Sources:
  - `reference-cpu inference` / `reference-cpu training`: the time each runtime or training
    variant measured at the smallest and largest size of results/reference-cpu/results.json
    (estimate_s: the first quartile of its draws' medians), with the efficiency at the largest size;
  - `loadgen DIR`: one row per LoadGen test under DIR (each folder's loadgen.json);
  - `loadgen-vs-bench FILE`: one row per round of tests/benchmarks/loadgen_vs_bench.py's JSON;
  - `PATH#K`: the K-th Markdown table of the file PATH (a series' raw output, or its README.md).
Every block of every series record (results/*/README.md) is rewritten first, then the main
README's, which quotes those records. `--check` exits 1 and names the stale blocks instead of
writing: the default test suite runs it, so a measured number cannot drift from its source.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.engine.units import format_duration, format_size
from bench.report.answer import value_of

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(<!-- generated: (?P<source>[^>]+?) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)
REFERENCE = "results/reference-cpu/results.json"
NAMES = {"inference": {"eager": "eager (`no_grad`)", "inference_mode": "`inference_mode`",
                       "torchscript": "TorchScript", "exported_program": "ExportedProgram",
                       "onnxruntime": "ONNX Runtime (CPU)", "torch_compile": "`torch.compile`"},
         "train_epoch": {"eager": "eager tutorial loop", "fused": "fused, no autograd (bit-exact)",
                         "torch_compile": "`torch.compile` of the fused step", "cuda_graph": "CUDA graph"}}


def _timed(results: dict[str, Any], phase: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(e["runtime"], int(e["batch_size"])): e for e in results["measurements"]
            if e["phase"] == phase and e.get("times_s") and e.get("device") == "cpu"}


def reference_table(results: dict[str, Any], phase: str) -> str:
    """A runtime (or variant) per row: its time at the smallest and largest size, efficiency."""
    timed = _timed(results, phase)
    sizes = sorted({size for _, size in timed})
    names = list(dict.fromkeys(r for r, _ in timed))
    what = "batch" if phase == "inference" else "N ="
    head = "| | " + " | ".join(f"{what} {format_size(s)}" for s in (sizes[0], sizes[-1]))
    lines = [head + f" | efficiency at {format_size(sizes[-1])} |", "|---|---|---|---|"]
    for name in names:
        cells = []
        for size in (sizes[0], sizes[-1]):
            e = timed.get((name, size))
            cells.append(format_duration(value_of(e)[0]) if e else "–")
        big = timed.get((name, sizes[-1])) or {}
        eff = big.get("bandwidth_efficiency")
        cells.append(f"{eff:.0%}" if isinstance(eff, (int, float)) else "–")
        lines.append(f"| {NAMES[phase].get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_table(path: Path, k: int) -> str:
    """The k-th (1-based) Markdown table of `path`: its consecutive lines starting with `|`."""
    tables: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    if not 1 <= k <= len(tables):
        raise ValueError(f"{path}: has {len(tables)} table(s), not {k}")
    return "\n".join(tables[k - 1]) + "\n"


def _p(latency: dict[str, Any], key: str) -> str:
    return format_duration(latency.get(key))


def loadgen_table(folder: Path) -> str:
    """A LoadGen test per row: its scenario and settings, VALID or not, latency, rate, accuracy."""
    lines = ["| test | scenario | offered QPS | result | p50 | p99 | completed (queries or samples /s) "
             "| accuracy |", "|---|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("*/loadgen.json")):
        run = json.loads(path.read_text(encoding="utf-8"))
        settings, latency, acc = run.get("settings", {}), run.get("latency_s") or {}, run.get("accuracy") or {}
        scenario = run.get("scenario", "?")
        if scenario == "server":
            scenario += f" ({settings.get('server_batching', '?')})"
        peak = (run.get("find_peak") or {}).get("peak_qps")
        offered = f"peak search: {peak:,.0f}" if peak else (
            f"{settings['target_qps']:,.0f}" if settings.get("target_qps") and run.get("scenario") == "server"
            else "–")
        verdict = "VALID" if run.get("valid") else "INVALID"
        checked = (f"{'exact' if acc.get('passed') else 'FAILED'}, {acc.get('checked', 0):,} checked"
                   if acc else "–")
        qps = f"{run['qps']:,.0f}" if isinstance(run.get("qps"), (int, float)) else "–"
        lines.append(f"| `{path.parent.name}/` | {scenario} | {offered} | {verdict} "
                     f"| {_p(latency, 'p50')} | {_p(latency, 'p99')} | {qps} | {checked} |")
    return "\n".join(lines) + "\n"


def loadgen_vs_bench_table(path: Path) -> str:
    """A round per row: bench's per-call p50, LoadGen's p50 with our SUT and with an empty one."""
    lines = ["| round | `bench` per-call p50 | LoadGen p50 | LoadGen p50, empty SUT | LoadGen / `bench` "
             "| accuracy |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(json.loads(path.read_text(encoding="utf-8"))["rounds"]):
        acc = r.get("accuracy") or {}
        times = [format_duration(r[k]) for k in ("bench_per_call_p50_s", "loadgen_p50_s", "loadgen_floor_p50_s")]
        lines.append(f"| {i} | {' | '.join(times)} | {r['ratio']:.2f}x "
                     f"| {'exact' if acc.get('passed') else 'FAILED'}, {acc.get('checked', 0):,} checked |")
    return "\n".join(lines) + "\n"


def generate(source: str, root: Path = ROOT) -> str:
    source = source.strip()
    kind, _, arg = source.partition(" ")
    if kind == "loadgen":
        return loadgen_table(root / arg)
    if kind == "loadgen-vs-bench":
        return loadgen_vs_bench_table(root / arg)
    if source.startswith("reference-cpu "):
        results = json.loads((root / REFERENCE).read_text(encoding="utf-8"))
        phase = {"inference": "inference", "training": "train_epoch"}[source.split()[1]]
        return reference_table(results, phase)
    path, _, k = source.partition("#")
    return markdown_table(root / path, int(k or 1))


def regenerate(text: str, root: Path = ROOT) -> tuple[str, list[str]]:
    """(the text with every generated block rewritten, the sources whose block changed)."""
    stale: list[str] = []

    def fill(m: re.Match[str]) -> str:
        body = generate(m.group("source"), root)
        if body != m.group("body"):
            stale.append(m.group("source"))
        return m.group(1) + body + m.group(4)
    return BLOCK.sub(fill, text), stale


def documents(root: Path = ROOT) -> list[Path]:
    """The files with generated blocks: every series record first, then the README that quotes them."""
    return sorted(root.glob("results/*/README.md")) + [root / "README.md"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report.readme",
                                description="Regenerate the README's and the series records' measured tables "
                                            "from committed files.")
    p.add_argument("--check", action="store_true", help="exit 1 if a generated block is stale; write nothing")
    args = p.parse_args(argv)
    stale_all: list[str] = []
    for doc in documents():
        new, stale = regenerate(doc.read_text(encoding="utf-8"))
        stale_all += [f"{doc.relative_to(ROOT)}: {source}" for source in stale]
        if stale and not args.check:
            tmp = doc.with_suffix(".md.tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(doc)
    if args.check:
        if stale_all:
            print(f"error: block(s) out of date with their source: {'; '.join(stale_all)}"
                  " (run `make readme`)", file=sys.stderr)
            return 1
        return 0
    print(f"{len(stale_all)} block(s) rewritten" + (f": {'; '.join(stale_all)}" if stale_all else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
