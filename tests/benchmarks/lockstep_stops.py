"""Does the companion's lockstep change the size of a process-wide effect? Measured in one process.

bench's companion stops the whole worker (SIGSTOP: its other threads too) after every workload
block, times its reference block, and lets the worker go on (SIGCONT; bench/engine/companion.py).
This measures a regress kind's true size as true_slowdown.py does (old and new blocks alternating
in one process, the median of the pair ratios), each block being the median of 3 sub-blocks of
~10 ms, in two arms run as separate processes, alternating:
  - plain: nothing between the sub-blocks;
  - stops: after every sub-block a helper process stops this process, runs ~5 ms of torch.add
    over 10^6 floats (a `stream` reference block), and lets it go on, then hands back through a
    pipe: the lockstep, without its bookkeeping.
Nothing is rescaled; each line is one process's median ratio.

    PYTHONPATH=.:SITE python tests/benchmarks/lockstep_stops.py --checkpoint CKPT \
        --kinds threads gil memory --targets inference:1000000 train_epoch:40 --repeats 4
(SITE: a folder where the regress plug-in is installed, e.g. measure_regressions.py's OUT/site;
run under the workers' allocator settings, as measure_regressions.py runs true_slowdown.py.)
"""
from __future__ import annotations

import argparse
import gc
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SUB_BLOCK_S = 0.010   # bench's workload block
SUB_BLOCKS = 3        # bench's blocks per draw
STOP_S = 0.005        # bench's reference block (half a workload block)
PAIRS = 60


def _helper(go: int, back: int, parent: int) -> None:
    """The companion's part: stop the parent, run a stream block, let it go on, hand back."""
    import torch

    x, y = torch.ones(1_000_000), torch.ones(1_000_000)
    out = torch.empty_like(x)
    while os.read(go, 1):
        os.kill(parent, signal.SIGSTOP)
        end = time.perf_counter() + STOP_S
        while time.perf_counter() < end:
            torch.add(x, y, out=out)
        os.kill(parent, signal.SIGCONT)
        os.write(back, b"g")
    os._exit(0)


def _start_helper() -> tuple[int, int]:
    """(the pipe that wakes the helper, the one it answers on); each side closes the other's ends,
    so the helper sees end-of-file when this process closes its end, and exits."""
    go_r, go_w = os.pipe()
    back_r, back_w = os.pipe()
    if os.fork() == 0:
        os.close(go_w)
        os.close(back_r)
        _helper(go_r, back_w, os.getppid())
    os.close(go_r)
    os.close(back_w)
    return go_w, back_r


def measure(kind: str, phase: str, size: int, checkpoint: Path, stops: bool) -> float:
    """new/old of `kind` at one size: the median of PAIRS alternating block ratios."""
    import torch
    from linreg_regress_runtime import effect
    from true_slowdown import WARM_CALLS, _calls_per_block, make_call

    torch.set_num_threads(1)
    hand = _start_helper() if stops else None
    eff = effect(kind)
    fn = make_call(phase, size, checkpoint, eff)
    for on in (True, False):
        eff.on() if on else eff.off()
        for _ in range(WARM_CALLS):
            fn()
    n = _calls_per_block(fn, SUB_BLOCK_S)

    def sub_block() -> float:
        gc.disable()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        gc.enable()
        if hand:
            os.write(hand[0], b"x")
            os.read(hand[1], 1)
        return elapsed

    def timed(on: bool) -> float:
        eff.on() if on else eff.off()
        for _ in range(WARM_CALLS):
            fn()
        return statistics.median(sub_block() for _ in range(SUB_BLOCKS))

    ratios = []
    for i in range(PAIRS):
        old, new = (timed(False), timed(True)) if i % 2 == 0 else reversed((timed(True), timed(False)))
        ratios.append(new / old)
    eff.close()
    if hand:
        os.close(hand[0])
        os.wait()
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--kinds", nargs="+", default=["threads", "gil", "memory"])
    p.add_argument("--targets", nargs="+", default=["inference:1000000", "train_epoch:40"])
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--one", nargs=4, metavar=("KIND", "PHASE", "SIZE", "STOPS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        kind, phase, size, stops = args.one
        print(measure(kind, phase, int(size), args.checkpoint, stops == "1"))
        return 0
    print("| kind | measurement | plain (each process) | stops (each process) | excess stops / plain |")
    print("|---|---|---|---|---|")
    for kind in args.kinds:
        for target in args.targets:
            phase, _, size = target.partition(":")
            got: dict[str, list[float]] = {"0": [], "1": []}
            for _ in range(args.repeats):
                for stops in ("0", "1"):
                    out = subprocess.run([sys.executable, __file__, "--checkpoint", str(args.checkpoint),
                                          "--one", kind, phase, size, stops],
                                         capture_output=True, text=True, check=True).stdout
                    got[stops].append(float(out.split()[-1]))
            plain, stopped = statistics.median(got["0"]), statistics.median(got["1"])
            cells = [" ".join(f"{r:.3f}" for r in got[s]) for s in ("0", "1")]
            print(f"| {kind} | {phase}/{size} | {plain:.3f}x: {cells[0]} | {stopped:.3f}x: {cells[1]} "
                  f"| {(stopped - 1) / (plain - 1):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
