"""The README's measured tables, generated from committed files: `python -m bench.report.readme`.

A generated block sits between two markers, and its text is whatever the marker's source gives:
    <!-- generated: reference-cpu inference -->   ...   <!-- /generated -->
Sources:
  - `reference-cpu inference` / `reference-cpu training`: the time each runtime or training
    variant measured at the smallest and largest size of results/reference-cpu/results.json
    (estimate_s: the median of its draws' medians), with the efficiency at the largest size;
  - `PATH#K`: the K-th Markdown table of the file PATH (a series' README.md, written by the
    script that measured it).
`--check` exits 1 and names the first stale block instead of writing: the default test suite
runs it, so a measured number in the README cannot drift from its committed source.
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


def generate(source: str, root: Path = ROOT) -> str:
    source = source.strip()
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report.readme",
                                description="Regenerate the README's measured tables from committed files.")
    p.add_argument("--check", action="store_true", help="exit 1 if a generated block is stale; write nothing")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = p.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new, stale = regenerate(text)
    if args.check:
        if stale:
            print(f"error: README block(s) out of date with their source: {', '.join(stale)}"
                  " (run `make readme`)", file=sys.stderr)
            return 1
        return 0
    tmp = args.readme.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(args.readme)
    print(f"{len(stale)} block(s) rewritten" + (f": {', '.join(stale)}" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
