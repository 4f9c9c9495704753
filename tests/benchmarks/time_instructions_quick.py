"""Where the time of `bench --metric instructions --quick` goes (issue 21: under 5 minutes on
2 vCPUs): one run of the default runtimes and variants on the CPU, its progress lines stamped
as they arrive, split into the timed suite and the valgrind pass. Writes OUT/README.md,
OUT/results.json (the run's own file) and OUT/progress.log.

    .venv/bin/python tests/benchmarks/time_instructions_quick.py --out results/instructions/quick-time
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import machine, short_commit, train_and_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "bench"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    commit = short_commit()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cmd = [*CLI, "bench", "--export-dir", str(train_and_export(work)), "--out", str(work / "run"), "--quick",
               "--devices", "cpu", "--metric", "instructions"]
        load, started, t0 = os.getloadavg()[0], datetime.now(timezone.utc), time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        stamped = [f"{time.monotonic() - t0:7.1f} s  {line.rstrip()}" for line in proc.stderr]  # type: ignore[union-attr]
        rc, wall = proc.wait(), time.monotonic() - t0
        if rc != 0:
            print("\n".join(stamped[-10:]), file=sys.stderr)
            print(f"error: the run exited {rc}; nothing written", file=sys.stderr)
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "run" / "results.json", args.out / "results.json")
    (args.out / "progress.log").write_text("\n".join(stamped) + "\n")
    counting = next((float(s.split(" s ")[0]) for s in stamped if "valgrind worker" in s), wall)
    doc = json.loads((args.out / "results.json").read_text())
    counted = [m for m in doc["measurements"] if isinstance(m.get("instructions_per_call"), (int, float))]
    shared = {tuple(m["instructions"].get("shared_with") or ()) for m in counted}
    (args.out / "README.md").write_text("\n".join([
        "# `bench --metric instructions --quick`: where the time goes", "",
        "Written by `tests/benchmarks/time_instructions_quick.py`; do not edit by hand.", "",
        f"- command: `python tests/benchmarks/time_instructions_quick.py --out {args.out}`",
        f"- the run: `{' '.join(['python', '-m', 'bench', *cmd[3:]])}` (paths in a temporary folder)",
        f"- commit: `{commit}`; date: {started:%Y-%m-%d %H:%M} UTC; 1-minute load at the start {load:.2f}",
        f"- machine: {machine()}",
        "- raw: `results.json` (the run's), `progress.log` (its progress lines, stamped on arrival)", "",
        "| part | seconds |", "|---|---|",
        f"| start, floors and the timed `--quick` suite | {counting:.0f} |",
        f"| the valgrind pass ({len(shared)} shared worker(s)) | {wall - counting:.0f} |",
        f"| the whole run | {wall:.0f} |", "",
        f"{len(counted)} measurements counted; the workers counted, in order: "
        + "; ".join(" then ".join(group) for group in sorted(shared)) + ".", ""]))
    print((args.out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
