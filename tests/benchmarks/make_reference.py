"""The committed reference run: `linreg-bench run --out DIR`, then DIR/README.md, its record.

The record says how the numbers were made: the command, the commit, the date, the machine, the
1-minute load average at the start and the end, and the wall time. The README's reference tables
are generated from DIR/results.json (`make readme`), so they always quote this run.

    .venv/bin/python tests/benchmarks/make_reference.py --out results/reference-cpu
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]



def _cpu_model(run: Path) -> str:
    """The CPU model the run recorded (results.json environment.cpu_model)."""
    try:
        return str(json.loads((run / "results.json").read_text())["environment"]["cpu_model"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    staging = args.out.with_name(args.out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench", "run", "--out", str(staging)]
    load, start, t0 = os.getloadavg()[0], datetime.now(timezone.utc), time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode != 0:
        print(f"error: the run failed (exit {done.returncode}); {args.out} is unchanged", file=sys.stderr)
        return 1
    wall, end_load = time.monotonic() - t0, os.getloadavg()[0]
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    (staging / "README.md").write_text("\n".join([
        f"# Reference run: {args.out.name}", "",
        "Written by `tests/benchmarks/make_reference.py`; do not edit by hand.", "",
        f"- command: `linreg-bench run --out {args.out}` (by `make reference`)",
        f"- commit: `{commit}`",
        f"- date: {start:%Y-%m-%d %H:%M} UTC; wall time {wall:.0f} s",
        f"- machine: {_cpu_model(staging)}, {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"- 1-minute load average: {load:.2f} at the start, {end_load:.2f} at the end",
        "", "The times are in [report.md](report.md) and [results.json](results.json). The tables below",
        "are generated from results.json by `make readme` (`make reference` runs it):", "",
        "<!-- generated: reference-cpu inference -->", "<!-- /generated -->", "",
        "<!-- generated: reference-cpu training -->", "<!-- /generated -->", ""]))
    old = args.out.with_name(args.out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if args.out.exists():
        args.out.rename(old)
    staging.rename(args.out)  # the new run replaces the old one whole, or not at all
    shutil.rmtree(old, ignore_errors=True)
    print(f"wrote {args.out} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
