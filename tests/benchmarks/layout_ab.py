"""Two revisions, A against B: separate `bench` runs of each, alternating, and how much the host
ratio moves between runs and between the processes of one run.

A is `--old REV` (a worktree), B this checkout. First written for the layout draws (A keeps each
process's memory layout, B draws a new one for every draw: results/layout-draws), then used for
the ONNX Runtime large-batch reference (results/ort-reference) and forked workers
(results/fork-isolation); `--names` and `--bench` say what the arms are and what they run. The
runs alternate A B, B A, ... so both see the same host. Per arm and measurement it reports the run-to-run sd and max/min of `estimate.host`'s ratio, the
per-process excess (the spread of a run's process means of log workload/reference beyond what
the draws' own noise explains) and the consecutive null pairs that the gate flags (slower or
faster) at median:5%, with the published time's max/min (`estimate_s`) and how long a run took.

    python tests/benchmarks/layout_ab.py --old ed0bd44 --out /tmp/layout --runs 16
    python tests/benchmarks/layout_ab.py --out /tmp/layout --analyze   # the table from what is there
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import ROOT, train_and_export  # noqa: E402

BENCH = ["--devices", "cpu", "--runtimes", "eager", "onnxruntime", "--variants", "eager",
         "--batch-sizes", "1000000", "--train-sizes", "40"]
NAMES = ("A: one layout per process", "B: a layout per draw")
FLAGGED = ("slower", "faster")  # what fails or flags a null pair; unresolved and unchanged do not


def run_arms(old: str, out: Path, runs: int, bench: list[str]) -> None:
    export = train_and_export(out)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), old], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for i in range(1, runs + 1):
                order = ("0", "1") if i % 2 else ("1", "0")
                for arm in order:
                    dest = out / f"r{arm}-{i}"
                    if (dest / "results.json").exists():
                        continue
                    cwd = tree if arm == "0" else ROOT
                    cmd = [sys.executable, "-m", "bench", "bench", "--export-dir", str(export),
                           "--out", str(dest), *bench]
                    subprocess.run(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd)},
                                   check=True, capture_output=True)
                    print(f"run {i} arm {arm} done", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           capture_output=True)


def _key(m: dict[str, Any]) -> str:
    """compare's key of a measurement: phase/runtime/device/size."""
    return f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}"


def spread(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Per measurement: run sd and max/min of the host ratio, per-process excess, draw sd."""
    ratios: dict[str, list[float]] = {}
    estimates: dict[str, list[float]] = {}
    parts: dict[str, list[tuple[float, float, float]]] = {}
    for path in paths:
        for m in json.loads(path.read_text())["measurements"]:
            if m.get("estimate_s"):
                estimates.setdefault(_key(m), []).append(math.log(m["estimate_s"]))
            host = (m.get("estimate") or {}).get("host") or {}
            if host.get("ratio"):
                ratios.setdefault(_key(m), []).append(math.log(host["ratio"]))
            logs = [np.array([math.log(d["median_s"] / d["reference_s"]) for d in p["draws"]
                              if d.get("reference_s")]) for p in m.get("processes") or []]
            logs = [a for a in logs if a.size > 2]
            if len(logs) >= 2:
                parts.setdefault(_key(m), []).append((
                    float(np.var([a.mean() for a in logs], ddof=1)),
                    statistics.mean(float(a.var(ddof=1)) / a.size for a in logs),
                    statistics.mean(float(a.std(ddof=1)) for a in logs)))
    out = {}
    for key, v in ratios.items():
        between = statistics.mean(p[0] for p in parts[key])
        expected = statistics.mean(p[1] for p in parts[key])
        out[key] = {"runs": len(v), "run_sd": statistics.stdev(v), "max_min": math.exp(max(v) - min(v)),
                    "process_excess": math.sqrt(max(between - expected, 0.0)),
                    "draw_sd": statistics.mean(p[2] for p in parts[key]),
                    "estimate_max_min": math.exp(max(estimates[key]) - min(estimates[key]))}
    return out


def run_seconds(out: Path) -> dict[str, list[float]]:
    """Per arm, each run's seconds: the time from the previous run's results.json (either arm's)
    to its own (`created_utc`, written as a run ends), so the first run of the series has none."""
    from datetime import datetime

    runs = sorted((datetime.fromisoformat(json.loads(p.read_text())["created_utc"].replace("Z", "+00:00")),
                   p.parent.name.split("-")[0][1:]) for p in out.glob("r[01]-*/results.json"))
    seconds: dict[str, list[float]] = {"0": [], "1": []}
    for (before, _), (at, arm) in zip(runs, runs[1:]):
        seconds[arm].append((at - before).total_seconds())
    return seconds


def null_pairs(paths: list[Path]) -> dict[str, list[str]]:
    """Consecutive runs (in the order they ran) gated at median:5%: each measurement's verdicts."""
    ordered = sorted(paths, key=lambda p: json.loads(p.read_text())["created_utc"])
    verdicts: dict[str, list[str]] = {}
    for base, new in zip(ordered, ordered[1:]):
        done = subprocess.run([sys.executable, "-m", "bench", "compare", str(base), str(new),
                               "--fail-on", "median:5%", "--json"], cwd=ROOT, capture_output=True, text=True)
        for row in json.loads(done.stdout)["measurements"]:
            verdicts.setdefault(row["key"], []).append(f"{row['verdict']} {row.get('ratio') or 0:.3f}")
    return verdicts


def table(out: Path, names: tuple[str, str] = NAMES) -> str:
    lines = ["| arm | measurement | runs | host ratio run sd | max/min | per-process excess | "
             "draw sd | estimate_s max/min | null pairs flagged at median:5% |",
             "|---|---|---|---|---|---|---|---|---|"]
    seconds = run_seconds(out)
    for arm, name in zip("01", names):
        paths = sorted(out.glob(f"r{arm}-*/results.json"))
        nulls = null_pairs(paths)
        for key, s in sorted(spread(paths).items()):
            flagged = nulls.get(key, [])
            alarms = sum(v.split()[0] in FLAGGED for v in flagged)
            lines.append(f"| {name} | {key} | {s['runs']} | {s['run_sd']:.2%} | {s['max_min']:.3f} | "
                         f"{s['process_excess']:.2%} | {s['draw_sd']:.2%} | {s['estimate_max_min']:.3f} | "
                         f"{alarms}/{len(flagged)} |")
    for arm, name in zip("01", names):
        if seconds[arm]:
            lines.append(f"\n{name}: a run took {statistics.median(seconds[arm]):.1f} s (median; "
                         f"{min(seconds[arm]):.1f}-{max(seconds[arm]):.1f} s over {len(seconds[arm])} runs, "
                         "from the previous run's results to its own)")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--old", help="the revision of arm A")
    p.add_argument("--runs", type=int, default=16, help="runs per arm (default 16)")
    p.add_argument("--names", nargs=2, default=NAMES, metavar=("A", "B"), help="what each arm is")
    p.add_argument("--bench", nargs=argparse.REMAINDER, default=BENCH,
                   help="the bench flags of every run, last (default: the layout experiment's)")
    p.add_argument("--analyze", action="store_true", help="print the table from the runs in --out")
    args = p.parse_args()
    if not args.analyze:
        if not args.old:
            p.error("--old REV is needed to run the arms")
        run_arms(args.old, args.out, args.runs, args.bench)
    print(table(args.out, tuple(args.names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
