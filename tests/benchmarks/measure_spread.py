"""Do the numbers reproduce? Separate `bench` runs, the spread of raw medians vs estimate_s, and
the between-run gate's false alarms (null pairs) and detections (injected slowdowns).

Each run is a fresh `linreg-bench bench` process with the issue's configuration:
    --devices cpu --runtimes eager onnxruntime --variants eager --batch-sizes 1 1000000
    --train-sizes 40   (default --processes, default timing)
The runs share one calibration file in --out, empty before the first run (so run 0 has only its
own reference scale; bench/store/calibration.py). Null pairs are consecutive runs (run i vs run
i+1), gated by `compare` at median:5% on estimate_s
and, for contrast, on raw medians (--raw). Injected pairs take a null pair and multiply NEW's
samples and estimate by 1+s (a uniform slowdown of the measured code, applied after the fact: it
tests the gate's arithmetic on real between-run noise, not a slower build).

    .venv/bin/python tests/benchmarks/measure_spread.py --out /tmp/spread --runs 11
    .venv/bin/python tests/benchmarks/measure_spread.py --out /tmp/spread --analyze
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TARGETS = ("train_epoch/eager/cpu/40", "inference/eager/cpu/1000000", "inference/onnxruntime/cpu/1")
SLOWDOWNS = (0.05, 0.10, 0.20)
CLI = [sys.executable, "-m", "bench"]


def prepare(out: Path) -> Path:
    export = out / "export"
    if not (export / "manifest.json").exists() or not (out / "train" / "model.pth").exists():
        subprocess.run([*CLI, "train", "--out", str(out / "train")], check=True, capture_output=True)
        subprocess.run([*CLI, "export", "--checkpoint", str(out / "train" / "model.pth"),
                        "--out", str(export)], check=True, capture_output=True)
    return export


def run(out: Path, runs: int, extra: list[str]) -> None:
    export = prepare(out)
    for i in range(runs):
        run_dir = out / f"run{i:02d}"
        if (run_dir / "results.json").exists():
            continue
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        # the runs' own calibration file, empty at the start: the first run has only its own scale
        env = {**os.environ, "LINREG_BENCH_CALIBRATION": str(out / "reference-scales.json")}
        subprocess.run([*CLI, "bench", "--export-dir", str(export), "--out", str(run_dir),
                        "--devices", "cpu", "--runtimes", "eager", "onnxruntime", "--variants", "eager",
                        "--batch-sizes", "1", "1000000", "--train-sizes", "40", *extra],
                       check=True, capture_output=True, env=env)
        wall = time.monotonic() - t0
        skipped = [f"{k}: {m.get('skip_reason')}" for k, m in _all_entries(run_dir / "results.json").items()
                   if "times_s" not in m]
        if skipped:  # a run that measured nothing must not pass for a quiet one
            sys.exit(f"error: run {i} skipped measurements ({'; '.join(skipped)[:300]})")
        (run_dir / "wall.json").write_text(json.dumps({"wall_s": wall, "load_start": load,
                                                       "load_end": os.getloadavg()[0]}))
        print(f"run {i}: {wall:.1f} s, load {load:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)


def _all_entries(path: Path) -> dict[str, dict]:
    doc = json.loads(path.read_text())
    return {f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}": m for m in doc["measurements"]}


def _entries(path: Path) -> dict[str, dict]:
    return {k: m for k, m in _all_entries(path).items() if "times_s" in m}


def _gate(base: Path, new: Path, raw: bool) -> int:
    """compare's exit code at median:5% (in-process: the same compare_files the CLI calls)."""
    from bench.compare.comparison import compare_files
    from bench.compare.files import load_bench_file
    from bench.compare.gate import MedianGate

    gate = MedianGate.parse("median:5%")
    return compare_files(load_bench_file(base), load_bench_file(new), gate, raw=raw).exit_code


def _slowed(src: Path, dst: Path, s: float) -> Path:
    doc = json.loads(src.read_text())
    for m in doc["measurements"]:
        if "times_s" in m:
            m["times_s"] = [t * (1 + s) for t in m["times_s"]]
            if m.get("estimate_s"):
                m["estimate_s"] *= 1 + s
    dst.write_text(json.dumps(doc))
    return dst


def analyze(out: Path) -> None:
    files = sorted(out.glob("run*/results.json"))
    walls = [json.loads((f.parent / "wall.json").read_text()) for f in files]
    print(f"{len(files)} runs; wall {min(w['wall_s'] for w in walls):.1f}-{max(w['wall_s'] for w in walls):.1f} s;"
          f" load {min(w['load_start'] for w in walls):.2f}-{max(w['load_end'] for w in walls):.2f}")
    print("| measurement | raw median (min-max) | raw max/min | estimate_s (min-max) | estimate max/min | method |")
    print("|---|---|---|---|---|---|")
    docs = [_entries(f) for f in files]
    for key in TARGETS:
        raw = [d[key]["median_s"] for d in docs]
        est = [d[key]["estimate_s"] for d in docs]
        methods = [d[key]["estimate"]["method"] for d in docs]
        methods = sorted(f"{m} x{methods.count(m)}" for m in set(methods))
        print(f"| {key} | {min(raw):.3g}-{max(raw):.3g} s | {max(raw) / min(raw):.2f} | "
              f"{min(est):.3g}-{max(est):.3g} s | {max(est) / min(est):.2f} | {', '.join(methods)} |")
    pairs = list(zip(files, files[1:]))
    print(f"\n| gate (median:5%) | null pairs failed | " + " | ".join(f"+{s:.0%} caught" for s in SLOWDOWNS) + " |")
    print("|---|---|" + "---|" * len(SLOWDOWNS))
    for raw in (False, True):
        nulls = sum(_gate(a, b, raw) == 1 for a, b in pairs)
        caught = []
        for s in SLOWDOWNS:
            hits = sum(_gate(a, _slowed(b, out / f"slow_{i}_{s:.2f}.json", s), raw) == 1
                       for i, (a, b) in enumerate(pairs))
            caught.append(f"{hits}/{len(pairs)}")
        print(f"| {'raw medians' if raw else 'estimate_s'} | {nulls}/{len(pairs)} | " + " | ".join(caught) + " |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--analyze", action="store_true")
    p.add_argument("extra", nargs="*", help="more bench flags after --, e.g. -- --processes 5")
    args = p.parse_args()
    if not args.analyze:
        run(args.out, args.runs, args.extra)
    analyze(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
