"""The true size of each LINREG_REGRESS kind, measured in ONE process (the ground truth).

Blocks of the old and the new call alternate: about 60 pairs of ~30 ms blocks, the order of the
two flipped every pair, and the answer is the median of the per-pair new/old block ratios. A host
slow phase lasts seconds, so it slows both blocks of a pair and cancels (METHOD.md, "Proving a
measurement method"). Old and new are the SAME objects that `bench` runs (the regress plug-in's
runtime and loop); only `effect(kind).on()` / `.off()` switches between them, in place: per-call
kinds flip the flags the call reads, process-wide kinds resume and park their threads (started
once, before the pairs, as a bench process starts them once at load) or switch glibc's mallopt. Run it under the bench workers' allocator settings (bench.engine.allocator), one
intra-op thread: measure_regressions.py starts one process per kind that way.

    python tests/benchmarks/true_slowdown.py --checkpoint DIR/train/model.pth --kinds gil --json out.jsonl
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

TARGETS = (("inference", 1), ("inference", 1_000_000), ("train_epoch", 40))
PAIRS = 60          # block pairs per kind and size: the median ratio settles within ~1%
BLOCK_S = 0.03      # one block: long enough to hold several 5 ms GIL periods and scheduler slices
WARM_CALLS = 3      # untimed calls after each switch (threads started, caches refilled)


def make_call(phase: str, size: int, checkpoint: Path, eff: Any) -> Callable[[], None]:
    """The regress plug-in's timed call at one size, consulting `eff` (what bench times)."""
    from bench.runtimes.base import Artifacts, make_input
    from bench.training.loops import make_train_data
    from linreg_regress_runtime import RegressLoop, RegressRuntime

    if phase == "inference":
        runtime = RegressRuntime()
        runtime.load(Artifacts(checkpoint), "cpu", 1)
        return runtime.bind(make_input(size), effect=eff).call
    X, y = make_train_data(size, "cpu")
    return RegressLoop(X, y, "cpu", effect=eff).step


def _block(fn: Callable[[], None], n: int) -> float:
    """Seconds for n calls, GC off (timeit's rule, as bench's block timer)."""
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _calls_per_block(fn: Callable[[], None], block_s: float) -> int:
    n = 1
    while True:
        elapsed = _block(fn, n)
        if elapsed >= block_s / 4:
            return max(1, round(n * block_s / elapsed))
        n *= 4


def true_slowdown(kind: str, phase: str, size: int, checkpoint: Path, pairs: int = PAIRS,
                  block_s: float = BLOCK_S) -> dict[str, Any]:
    """new/old of one kind at one size: the median of `pairs` alternating block ratios."""
    from linreg_regress_runtime import effect

    eff = effect(kind)
    fn = make_call(phase, size, checkpoint, eff)
    eff.on()  # threads started (and warm) before any timed block: their start-up is not the change
    for _ in range(WARM_CALLS):
        fn()
    eff.off()
    for _ in range(WARM_CALLS):
        fn()
    n = _calls_per_block(fn, block_s)

    def timed(on: bool) -> float:
        eff.on() if on else eff.off()
        for _ in range(WARM_CALLS):
            fn()
        return _block(fn, n) / n

    old_s: list[float] = []
    new_s: list[float] = []
    ratios: list[float] = []
    started = time.perf_counter()
    try:
        for i in range(pairs):
            if i % 2 == 0:
                old, new = timed(False), timed(True)
            else:
                new, old = timed(True), timed(False)
            old_s.append(old)
            new_s.append(new)
            ratios.append(new / old)
    finally:
        eff.close()
    q = statistics.quantiles(ratios, n=4)
    return {"kind": kind, "phase": phase, "size": size, "pairs": pairs, "calls_per_block": n,
            "old_median_s": statistics.median(old_s), "new_median_s": statistics.median(new_s),
            "ratio": statistics.median(ratios), "ratio_q1": q[0], "ratio_q3": q[2],
            "wall_s": round(time.perf_counter() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    from linreg_regress_runtime import KINDS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="the trained model.pth")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--targets", nargs="+", default=[f"{ph}:{n}" for ph, n in TARGETS],
                   help="phase:size pairs (default: inference:1 inference:1000000 train_epoch:40)")
    p.add_argument("--pairs", type=int, default=PAIRS)
    p.add_argument("--block-s", type=float, default=BLOCK_S)
    p.add_argument("--json", type=Path, help="append one JSON line per kind and size here")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # as the bench workers (bench.suite.default_threads)
    for kind in args.kinds:
        for target in args.targets:
            phase, _, size = target.partition(":")
            row = true_slowdown(kind, phase, int(size), args.checkpoint, args.pairs, args.block_s)
            print(f"{kind:<10} {phase:<12} {row['size']:>8}  true {row['ratio']:.3f}x "
                  f"[q1 {row['ratio_q1']:.3f}, q3 {row['ratio_q3']:.3f}]  old {row['old_median_s'] * 1e6:.2f} us"
                  f"  new {row['new_median_s'] * 1e6:.2f} us  ({row['calls_per_block']} calls/block, "
                  f"{row['wall_s']} s)", flush=True)
            if args.json:
                with args.json.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
