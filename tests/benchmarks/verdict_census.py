"""Every committed pair of separate `bench` runs, gated again with this checkout's `compare`: what
the verdicts say of real changes and of no change. Nothing is measured or rescaled.

- Real changes: each pair of results/regressions*/ (BASE with the plug-in's slowdown off, NEW
  with it on), where the kind's true size at that measurement (truth.jsonl: alternating blocks
  in one process) is a change of 10% or more. Counted: called the right way (slower / faster),
  unresolved (no change shown, none ruled out), unchanged (a change the data rule out: wrong),
  the wrong way.
- No change: consecutive runs of one configuration, in the order they ran (created_utc): the
  BASE runs of each regression campaign and every results/spread/*/ series. Counted: false
  alarms (slower or faster), unresolved, unchanged.

    .venv/bin/python tests/benchmarks/verdict_census.py --fail-on median:5% --write results/verdicts/README.md
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.compare.comparison import Comparison, compare_files  # noqa: E402
from bench.compare.files import load_bench_file  # noqa: E402
from bench.compare.gate import MedianGate  # noqa: E402

RESULTS = ROOT / "results"
BIG = 1.10  # a change of 10% or more: the targets


def size_class(label: str) -> str:
    phase, _, _, size = label.split("/")
    return {"inference/1": "batch 1", "inference/1000000": "batch 10^6",
            "train_epoch/40": "training N=40"}.get(f"{phase}/{size}", "other sizes")


def gated(base: Path, new: Path, gate: MedianGate) -> Comparison:
    return compare_files(load_bench_file(base), load_bench_file(new), gate, resamples=2000)


def outcome(c: Comparison, label: str) -> str:
    row = next(r for r in c.rows if r.label == label)
    if row in c.regressions:
        return "slower"
    return str(row.verdict)


def regression_pairs() -> Iterator[tuple[str, str, Path, Path, dict[tuple[str, str, int], float]]]:
    """(series, kind, BASE results.json, NEW results.json, true ratios by (kind, phase, size)) of
    every committed pair of results/regressions*/."""
    for series in sorted(RESULTS.glob("regressions*/truth.jsonl")):
        truth = {}
        for line in series.read_text().splitlines():
            t = json.loads(line)
            truth[(t["kind"], t["phase"], int(t["size"]))] = t["ratio"]  # the last one measured
        for compare in sorted(series.parent.glob("runs/*/*-compare.json")):
            kind, pair = compare.parent.name, compare.name[:2]
            base, new = compare.parent / f"{pair}-base/results.json", compare.parent / f"{pair}-new/results.json"
            if base.is_file() and new.is_file():
                yield series.parent.name, kind, base, new, truth


def big_change(truth: dict[tuple[str, str, int], float], kind: str, label: str) -> float | None:
    """The true ratio of a measurement where it is a change of BIG or more, else None."""
    phase, _, _, size = label.split("/")
    true = truth.get((kind, phase, int(size)))
    return None if true is None or 1 / BIG < true < BIG else true


def null_series() -> dict[str, list[Path]]:
    """Each series of runs of one configuration: the BASE runs of each regression campaign and
    every results/spread/*/ series (consecutive() orders them)."""
    series = {f"{d.name} (BASE runs)": sorted(d.glob("runs/*/*-base/results.json"))
              for d in sorted(RESULTS.glob("regressions*")) if d.is_dir()}
    return series | {f"spread/{d.name}": sorted(d.glob("*/results.json"))
                     for d in sorted((RESULTS / "spread").iterdir()) if d.is_dir()}


def real_changes(gate: MedianGate) -> dict[tuple[str, str], Counter]:
    """(size class, kind) -> outcome counts over the pairs whose true change is >= 10%."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for name, kind, base, new, truth in regression_pairs():
        c = gated(base, new, gate)
        for row in c.rows:
            if row.base is None or row.new is None or row.stats is None:
                continue
            true = big_change(truth, kind, row.label)
            if true is None:
                continue
            right, wrong = ("slower", "faster") if true > 1 else ("faster", "slower")
            said = outcome(c, row.label)
            said = {right: "called", wrong: "wrong way"}.get(said, said)
            counts[(size_class(row.label), f"{name}: {kind}")][said] += 1
    return counts


def consecutive(files: list[Path]) -> list[tuple[Path, Path]]:
    dated = sorted(files, key=lambda p: json.loads(p.read_text()).get("created_utc", ""))
    return list(zip(dated, dated[1:]))


def null_pairs(gate: MedianGate) -> dict[tuple[str, str], Counter]:
    """(size class, series) -> outcome counts over consecutive runs of one configuration."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for name, files in null_series().items():
        for a, b in consecutive(files):
            c = gated(a, b, gate)
            for row in c.rows:
                if row.base is None or row.new is None or row.stats is None:
                    continue
                said = outcome(c, row.label)
                said = "false alarm" if said in ("slower", "faster") else said
                counts[(size_class(row.label), name)][said] += 1
    return counts


def table(counts: dict[tuple[str, str], Counter], columns: list[str]) -> list[str]:
    out = ["| size | series | pairs | " + " | ".join(columns) + " | other |",
           "|---|---|---|" + "---|" * (len(columns) + 1)]
    totals: dict[str, Counter] = defaultdict(Counter)
    for (size, name), c in sorted(counts.items()):
        other = sum(v for k, v in c.items() if k not in columns)
        out.append(f"| {size} | {name} | {sum(c.values())} | "
                   + " | ".join(str(c[k]) for k in columns) + f" | {other} |")
        totals[size].update(c)
    out += ["", "| size | pairs | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    out += [f"| {size} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in columns) + " |"
            for size, c in sorted(totals.items())]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fail-on", default="median:5%")
    p.add_argument("--write", type=Path, help="write the census here (markdown); else print it")
    args = p.parse_args(argv)
    gate = MedianGate.parse(args.fail_on)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = [
        "# Verdicts of every committed pair, gated again (issue 20, point 2)", "",
        f"- command: `.venv/bin/python tests/benchmarks/verdict_census.py --fail-on {args.fail_on}"
        + (f" --write {args.write}`" if args.write else "`"),
        f"- compare at commit `{commit}`, gate `{gate.label}`;"
        f" written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "- pure re-analysis of the committed runs (their machines, dates and loads: each series' README)",
        "", "## Real changes of 10% or more (true size: one process, alternating blocks)", "",
        *table(real_changes(gate), ["called", "unresolved", "unchanged", "wrong way"]),
        "", "## No change: consecutive runs of one configuration", "",
        *table(null_pairs(gate), ["false alarm", "unresolved", "unchanged"]), "",
    ]
    text = "\n".join(lines)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.write.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.write)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
