"""`compare --rev BASE_REV --metric instructions`: this tree and BASE_REV counted in one CI job.

Instruction counts do not depend on the host's state, so unlike the timed `--rev` there is
nothing to interleave: each tree runs `python -m bench bench --metric instructions` once, from
inside its own folder (the current folder comes first on sys.path, and bench's workers put their
own tree on PYTHONPATH), both on one checkpoint trained here. The two results.json documents then
go through `compare` with the instruction gate; their wall times are reported beside. BASE_REV
must have `--metric instructions` itself (an older one fails with one `error:` line).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from bench.compare.comparison import Comparison, compare_files
from bench.compare.counts import InstructionGate
from bench.compare.files import load_bench_file
from bench.compare.interleave_driver import WORKLOADS
from bench.compare.interleave_workers import base_worktree, repo_root
from linreg.errors import LinregError
from linreg.files import write_text_atomic


def bench_arguments(names: tuple[str, ...]) -> list[str]:
    """`bench` options that count the named interleave workloads (and the pairs they imply)."""
    chosen = [WORKLOADS[n] for n in names]
    runtimes = sorted({rt for phase, rt, _, _ in chosen if phase == "inference"})
    variants = sorted({rt for phase, rt, _, _ in chosen if phase == "train_epoch"})
    batches = sorted({size for phase, _, _, size in chosen if phase == "inference"})
    trains = sorted({size for phase, _, _, size in chosen if phase == "train_epoch"})
    args = ["--quick", "--devices", "cpu", "--metric", "instructions",
            "--runtimes", *(runtimes or ["eager"]), "--variants", *(variants or ["eager"])]
    return args + ["--batch-sizes", *map(str, batches or [1]), "--train-sizes", *map(str, trains or [40])]


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # each tree imports itself
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a parity failure or nothing timed, still a results file
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise LinregError(f"{what}: exit {done.returncode} ({last})")


def count_revision(base_rev: str, names: tuple[str, ...], gate: InstructionGate,
                   save_dir: str | None = None) -> Comparison:
    """Count BASE_REV's tree and this one with the same checkpoint, then compare the counts."""
    root = repo_root()
    with base_worktree(base_rev, prefix="linreg-counts-") as (work_dir, base_tree):
        checkpoint = work_dir / "train" / "model.pth"
        _run([sys.executable, "-m", "bench", "train", "--out", str(checkpoint.parent)], root, "training")
        args = bench_arguments(names)
        for side, tree in (("base", base_tree), ("new", root)):
            sys.stderr.write(f"compare: counting {side} ({tree}) under valgrind\n")
            _run([sys.executable, "-m", "bench", "bench", "--checkpoint", str(checkpoint),
                  "--out", str(work_dir / f"count-{side}"), *args], tree,
                 f"bench --metric instructions in {side}")
        base = load_bench_file(work_dir / "count-base" / "results.json")
        new = load_bench_file(work_dir / "count-new" / "results.json")
        if save_dir:
            for side in ("base", "new"):
                text = (work_dir / f"count-{side}" / "results.json").read_text()
                write_text_atomic(Path(save_dir) / f"{side}.json", text)
    return compare_files(replace(base, path=f"{base_rev}, counted"),
                         replace(new, path="working tree, counted"), gate)
