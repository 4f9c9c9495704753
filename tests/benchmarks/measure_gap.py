"""Does the lockstep slow what it measures? One process, the companion's reference in between.

bench times each workload block right after the companion's reference block (the worker stopped,
its CPU given to the companion). This script times blocks of the same call (~10 ms) in one
process, each preceded by one of, in a random order every round:
  C:  nothing (back to back: a loop that runs on and on, what a user's own loop sees);
  A:  one companion reference block, as bench does;
  B:  an idle gap as long as that block (the worker asleep);
  R1, R2, R5 (--rewarm-ms): the reference block, then untimed calls for that many ms before
  the timed block.
The ratio of each mode's median per-call time to C's is what that preceding step adds.

    .venv/bin/python tests/benchmarks/measure_gap.py --out results/gap --rounds 150

Writes OUT/gap.json (every block's per-call time, by size and mode) and OUT/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.engine.allocator import ALLOCATOR_ENV  # noqa: E402
from linreg.environment import cpu_model  # noqa: E402

MODES = ["C", "A", "B", "R1", "R2", "R5"]  # --rewarm-ms replaces the R modes
CASES = (("train_epoch", 40), ("inference", 1), ("inference", 1_000_000))


def _call(phase: str, size: int) -> tuple[Callable[[], Any], str]:
    """The tutorial's training step at N=`size`, or eager inference of a batch (no_grad), and the
    reference kind bench pairs it with."""
    import torch

    from linreg.models import LinearRegressionModel
    from linreg.train import train_epoch

    torch.manual_seed(42)
    model = LinearRegressionModel()
    if phase == "train_epoch":
        x = torch.arange(0, 1, 1 / size).unsqueeze(1)
        y = 0.7 * x + 0.3
        loss_fn, opt = torch.nn.L1Loss(), torch.optim.SGD(model.parameters(), lr=0.01)
        return (lambda: train_epoch(model, loss_fn, opt, x, y)), "autograd"
    x = torch.rand(size, 1)

    def infer() -> Any:
        with torch.no_grad():
            return model(x)
    return infer, ("stream" if size >= 100_000 else "dispatch")


def measure_case(phase: str, size: int, rounds: int) -> dict[str, Any]:
    """Per-call times of ~10 ms blocks after each mode's preceding step."""
    import torch

    from bench.engine.companion import CompanionReference
    from bench.engine.timing import TimingConfig

    torch.set_num_threads(1)
    fn, kind = _call(phase, size)
    clock = time.perf_counter
    start, calls = clock(), 0
    while clock() - start < 0.2:
        fn()
        calls += 1
    n = max(1, round(calls * 0.010 / 0.2))
    ref = CompanionReference(kind, 1, TimingConfig())
    ref.sample()
    gap_s = statistics.median(ref.times_s) * ref.calls

    def block() -> float:
        t0 = clock()
        for _ in range(n):
            fn()
        return (clock() - t0) / n

    times: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(rounds):
        order = list(MODES)
        random.shuffle(order)
        for mode in order:
            if mode == "B":
                time.sleep(gap_s)
            elif mode != "C":
                ref.sample()
            if mode.startswith("R"):
                until = clock() + int(mode[1:]) * 1e-3
                while clock() < until:
                    fn()
            times[mode].append(block())
    ref.companion.close()
    return {"phase": phase, "size": size, "reference": kind, "calls_per_block": n,
            "reference_block_s": gap_s, "times_s": times}


def _table(cases: list[dict[str, Any]]) -> list[str]:
    head = "| measurement | C: back to back | " + " | ".join(f"{m}/C" for m in MODES[1:]) + " |"
    lines = [head, "|---" * (len(MODES) + 1) + "|"]
    for c in cases:
        med = {m: statistics.median(v) for m, v in c["times_s"].items()}
        cells = " | ".join(f"{med[m] / med['C']:.3f}" for m in MODES[1:])
        lines.append(f"| {c['phase']}/{c['size']} | {med['C'] * 1e6:.2f} us | {cells} |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=150)
    p.add_argument("--rewarm-ms", type=int, nargs="+", default=[1, 2, 5])
    args = p.parse_args()
    MODES[3:] = [f"R{ms}" for ms in args.rewarm_ms]
    if any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):  # glibc reads them at start
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ALLOCATOR_ENV})
    started = dt.datetime.now(dt.timezone.utc)
    load = [os.getloadavg()[0]]
    cases = [measure_case(phase, size, args.rounds) for phase, size in CASES]
    load.append(os.getloadavg()[0])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    cpu = cpu_model()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gap.json").write_text(json.dumps({"cases": cases}) + "\n")
    lines = ["# What the step before a timed block adds to it", "",
             "Written by `tests/benchmarks/measure_gap.py` (its docstring says what each mode is).", "",
             f"- command: `python tests/benchmarks/measure_gap.py --out {args.out} --rounds {args.rounds} "
             f"--rewarm-ms {' '.join(map(str, args.rewarm_ms))}`",
             f"- commit `{commit}`, {started:%Y-%m-%d %H:%M} UTC; machine: {cpu}, {os.cpu_count()} vCPUs; "
             f"1-minute load {load[0]:.2f} -> {load[1]:.2f}",
             f"- {args.rounds} rounds, each mode once per round in a random order; ~10 ms blocks; "
             "one thread; the harness's allocator settings; raw: `gap.json`", "",
             "Median per-call time of the blocks after each step, over C's (back to back):", "",
             *_table(cases), ""]
    (args.out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
