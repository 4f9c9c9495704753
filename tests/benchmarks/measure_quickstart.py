"""How long the README's two Quickstart commands take, as a new user meets them: a fresh clone of
the committed HEAD, `make test` from nothing (it creates .venv and installs the pinned versions),
then `make run` (the .venv exists by then). Writes OUT/README.md, whose first table the README's
Quickstart quotes (`make readme`), and OUT/quickstart.json.

    .venv/bin/python tests/benchmarks/measure_quickstart.py --out results/quickstart
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import machine, short_commit, timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def pytest_line(log: Path) -> str:
    """pytest's own last line ("822 passed, 12 skipped ... in 122.90s"), or ""."""
    lines = [ln.strip("= \n") for ln in log.read_text(errors="replace").splitlines()
             if re.search(r"\d+ passed.* in [\d.]+s", ln)]
    return lines[-1] if lines else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--keep-run", type=Path, help="copy make run's results.json into this folder")
    args = p.parse_args()
    commit = short_commit()
    started = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "p"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        test = timed(["make", "test"], clone, Path(tmp) / "test.log")
        test["pytest"] = pytest_line(Path(tmp) / "test.log")
        run = timed(["make", "run"], clone, Path(tmp) / "run.log")
        if args.keep_run and (clone / "results" / "latest" / "results.json").exists():
            args.keep_run.mkdir(parents=True, exist_ok=True)  # a second run for check_truth.py
            shutil.copyfile(clone / "results" / "latest" / "results.json", args.keep_run / "results.json")
    if test["rc"] or run["rc"]:
        print(f"error: make test exit {test['rc']}, make run exit {run['rc']}: nothing written", file=sys.stderr)
        return 1
    record = {"commit": commit, "date_utc": started.isoformat(timespec="seconds"),
              "machine": machine(),
              "make_test": test, "make_run": run}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quickstart.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / "README.md").write_text("\n".join([
        "# The Quickstart's two commands, timed from a fresh clone", "",
        "Written by `tests/benchmarks/measure_quickstart.py`; do not edit by hand.", "",
        f"- command: `python tests/benchmarks/measure_quickstart.py --out {args.out}`",
        f"- commit: `{commit}`; date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {record['machine']}",
        f"- 1-minute load before and after: make test {test['load_1m']}, make run {run['load_1m']}",
        "- raw: `quickstart.json`", "",
        "| command | wall time | what it did |", "|---|---|---|",
        f"| `make test` | {test['wall_s']:.0f} s | created `.venv`, installed the pinned versions, import "
        f"contracts, pytest ({test['pytest'] or 'no summary line'}) |",
        f"| `make run` | {run['wall_s']:.0f} s | with `.venv` in place: train, export, verify, bench, "
        "LoadGen pass, report |", ""]))
    print((args.out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
