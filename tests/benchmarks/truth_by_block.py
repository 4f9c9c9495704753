"""How the true size of a kind depends on the block length of the one-process measurement itself.

true_slowdown.py alternates old and new in blocks of BLOCK_S (30 ms); `bench` times blocks of
10 ms (TimingConfig.min_sample_s). A per-call change (python) costs the same in any block; a
thread that holds the GIL 1 ms in every 5 ms does not: how much of its cycle lands inside a
timed block depends on the block's length. This measures the gil kind (and python, the control)
at several block lengths, each a fresh `true_slowdown.py` process under the bench workers'
allocator settings, REPEATS times, and writes a table. Nothing else runs; nothing is rescaled.

    .venv/bin/python tests/benchmarks/truth_by_block.py --checkpoint DIR/train/model.pth --write results/gil-blocks/README.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_regressions import environment  # noqa: E402  (the plug-in on PYTHONPATH, the workers' allocator)

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "tests" / "plugins" / "regress_runtime"
SCRIPT = Path(__file__).resolve().parent / "true_slowdown.py"
BLOCKS_S = (0.005, 0.01, 0.03, 0.1, 0.3)
CASES = (("gil", "train_epoch:40"), ("gil", "inference:1"), ("python", "train_epoch:40"))


def truth(kind: str, target: str, block_s: float, checkpoint: Path, pairs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.jsonl"
        subprocess.run([sys.executable, str(SCRIPT), "--checkpoint", str(checkpoint), "--kinds", kind,
                        "--targets", target, "--block-s", str(block_s), "--pairs", str(pairs),
                        "--json", str(out)], env=environment(PLUGIN, None, worker=True), check=True, capture_output=True)
        return float(json.loads(out.read_text().splitlines()[0])["ratio"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pairs", type=int, default=60)
    p.add_argument("--write", type=Path, required=True)
    args = p.parse_args(argv)
    started = datetime.now(timezone.utc)
    load0 = os.getloadavg()
    rows = []
    for kind, target in CASES:
        cells = []
        for block in BLOCKS_S:
            values = [truth(kind, target, block, args.checkpoint, args.pairs) for _ in range(args.repeats)]
            print(kind, target, block, " ".join(f"{v:.3f}" for v in values), flush=True)
            cells.append(f"{statistics.median(values):.3f}x [{min(values):.3f}, {max(values):.3f}]")
        rows.append(f"| {kind} | {target.replace(':', ' ')} | " + " | ".join(cells) + " |")
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    text = "\n".join([
        "# The true size against the block length of the truth itself (issue 20, point 6)", "",
        f"- command: `.venv/bin/python tests/benchmarks/truth_by_block.py --checkpoint CKPT --repeats"
        f" {args.repeats} --pairs {args.pairs} --write {args.write}`",
        f"- commit `{commit}`; {started:%Y-%m-%d %H:%M} to {datetime.now(timezone.utc):%H:%M} UTC;"
        f" {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"- 1-minute load at the start {load0[0]:.2f}, at the end {os.getloadavg()[0]:.2f}; beside it only text editing",
        "- each cell: the median over the repeats (fresh processes) of true_slowdown.py's answer (the median"
        f" of {args.pairs} alternating old/new block ratios), with the repeats' range",
        "",
        "| kind | measurement | " + " | ".join(f"{b * 1000:g} ms blocks" for b in BLOCKS_S) + " |",
        "|---|---|" + "---|" * len(BLOCKS_S),
        *rows, "",
    ])
    args.write.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.write.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
