"""Measure `sweep --jobs 2` against `--jobs 1`: wall times, where they went, and the same bits.

Each pair runs one sweep with one job and one with two, each as its own `python -m bench sweep`
process into a fresh folder, in alternating order (1 2, 2 1, ...) so a slow phase of the host
hits both alike. Every run's trials must equal the reference sweep's bit for bit (final state,
losses, epochs to target, status): any difference is an `error:` line and exit 1.

From each run's `last_run` (sweep.json) it also prints where the time went, and the bound on two
jobs if they halved the trials and the closing work perfectly and nothing else (Amdahl).

    .venv/bin/python tests/benchmarks/measure_sweep_jobs.py --pairs 3
    .venv/bin/python tests/benchmarks/measure_sweep_jobs.py --config tests/benchmarks/sweep-10x.toml \\
        --reference none --pairs 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BITS = ("status", "final_state", "final_train_loss", "final_test_loss", "epochs_to_target",
        "diverged_at_epoch")


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def import_floor(runs: int = 3) -> float:
    """The least time a fresh interpreter takes to import torch and torch._dynamo (the optimizer's
    first step imports it): what every sweep pays before its first trial, however many jobs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, torch._dynamo"], check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def run_sweep(config: Path, out: Path, jobs: int) -> dict[str, Any]:
    before = loadavg()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", "sweep", "--config", str(config),
                           "--out", str(out), "--jobs", str(jobs)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: sweep --jobs {jobs} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    doc = json.loads((out / "sweep.json").read_text())
    return {"jobs": jobs, "wall_s": wall, "load_before": before, "load_after": loadavg(),
            "last_run": doc["last_run"], "bits": {t["id"]: {k: t.get(k) for k in BITS} for t in doc["trials"]}}


def check_bits(runs: list[dict[str, Any]], reference: dict[str, Any] | None) -> int:
    """Every run's trials equal the reference's (or the first run's); the number of trials."""
    want = reference or runs[0]["bits"]
    for run in runs:
        if run["bits"] != want:
            differ = sorted(t for t in want if run["bits"].get(t) != want[t])
            sys.exit(f"error: --jobs {run['jobs']} run gave other bits than the reference in "
                     f"{len(differ)} trials ({', '.join(differ[:4])})")
    return len(want)


def amdahl_bound(one: dict[str, Any]) -> float:
    """jobs 1's wall over what it would be if the trials and the closing halved and nothing else."""
    r = one["last_run"]
    halved = one["wall_s"] - r["trials_wall_s"] / 2 - (r["closing_s"] or 0) / 2
    return one["wall_s"] / halved


def report(runs: list[dict[str, Any]], floor: float, trials: int) -> None:
    print("| run | jobs | wall (s) | start-up (s) | workers' imports (s) | trials (s) | side by side "
          "| closing (s) | load before / after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, run in enumerate(runs):
        r = run["last_run"]
        print(f"| {i} | {run['jobs']} | {run['wall_s']:.2f} | {r['startup_s']:.2f} | {r['worker_start_s']:.2f} "
              f"| {r['trials_wall_s']:.2f} | {r['trials_side_by_side']:.2f}x | {r['closing_s']:.2f} "
              f"| {run['load_before']} / {run['load_after']} |")
    ones = [r for r in runs if r["jobs"] == 1]
    twos = [r for r in runs if r["jobs"] == 2]
    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(ones, twos)]
    bounds = [amdahl_bound(a) for a in ones]
    print(f"\nimport torch + torch._dynamo in a fresh interpreter: {floor:.2f} s (least of 3)")
    print(f"jobs 1 / jobs 2, per pair: {', '.join(f'{x:.2f}x' for x in ratios)} "
          f"(median {statistics.median(ratios):.2f}x)")
    side = [r["last_run"]["trials_side_by_side"] for r in twos]
    print(f"trials side by side with 2 jobs: {', '.join(f'{x:.2f}x' for x in side)}")
    print(f"bound if 2 jobs halved the trials and the closing and nothing else: "
          f"{', '.join(f'{x:.2f}x' for x in bounds)}")
    print(f"same bits: all {len(runs)} runs x {trials} trials")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("results/sweep-tutorial/sweep.toml"),
                   help="a sweep.toml, relative to the repository root or absolute")
    p.add_argument("--reference", default="results/sweep-tutorial/sweep.json",
                   help="a sweep.json whose trials every run must equal; 'none': the first run's")
    p.add_argument("--pairs", type=int, default=3)
    args = p.parse_args()
    args.config = ROOT / args.config
    reference = None
    if args.reference != "none":
        doc = json.loads((ROOT / args.reference).read_text())
        reference = {t["id"]: {k: t.get(k) for k in BITS} for t in doc["trials"]}
    shown = args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: {shown}, {args.pairs} pairs, "
          f"load {loadavg()}", flush=True)
    floor = import_floor()
    runs = []
    with tempfile.TemporaryDirectory(prefix="sweep-jobs-") as tmp:
        for pair in range(args.pairs):
            for jobs in ((1, 2) if pair % 2 == 0 else (2, 1)):
                runs.append(run_sweep(args.config, Path(tmp) / f"p{pair}j{jobs}", jobs))
                print(f"pair {pair}, jobs {jobs}: {runs[-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
    trials = check_bits(runs, reference)
    runs.sort(key=lambda r: r["jobs"])  # the table: jobs 1 first, pairs in order within each
    report(runs, floor, trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
