"""The CI example's instruction-count job, run as CI runs it: `.ci/instructions-gate BASE_REV` in
a fresh clone of the committed HEAD (its own .venv, made by the script), twice against HEAD:
  null:  the clone unchanged, as a pull request that touches no measured code;
  slower: the model's forward given 4 more interpreter loop iterations per call, left uncommitted
          as a pull request's working tree is (counted: +3.4% at eager batch 1; 10 iterations
          counted +4.7%, the loop's setup costs more than its iterations).
Writes OUT/README.md (command, commit, date, machine, load, each case's exit code, wall time and
the gate's table) and OUT/<case>.md, the gate's own markdown.

    .venv/bin/python tests/benchmarks/measure_ci_gate.py --out results/instructions/ci-job
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import machine, short_commit, timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FORWARD = "        return self.weights * x + self.bias\n"
SLOWER = "        for _ in range(4):  # the change under test: a few % more work per call\n            pass\n"


def gate(clone: Path, case: str, out: Path) -> dict[str, object]:
    log = clone.parent / f"{case}.log"
    done = timed([".ci/instructions-gate", "HEAD", str(out / f"{case}.md")], clone, log)
    return {"case": case, "exit": done["rc"], "wall_s": done["wall_s"], "load_before": done["load_1m"][0],
            "load_after": done["load_1m"][1], "tail": log.read_text(errors="replace").strip().splitlines()[-3:]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    commit, started = short_commit(), datetime.now(timezone.utc)
    rows = []
    with tempfile.TemporaryDirectory(prefix="linreg-ci-gate-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        rows.append(gate(clone, "null", out))
        models = clone / "linreg" / "models.py"
        text = models.read_text()
        assert FORWARD in text, "the model's forward moved: update FORWARD"
        models.write_text(text.replace(FORWARD, SLOWER + FORWARD, 1))
        rows.append(gate(clone, "slower", out))
    (out / "ci-gate.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["# The CI example's instruction-count job, run for real", "",
             "Written by `tests/benchmarks/measure_ci_gate.py`; do not edit by hand.", "",
             f"- command: `.venv/bin/python tests/benchmarks/measure_ci_gate.py --out {args.out}`",
             f"- commit `{commit}`, {started:%Y-%m-%d %H:%M} UTC; machine: {machine()}",
             "- each case: a fresh clone of that commit runs `.ci/instructions-gate HEAD` (what the "
             "`instructions` job of `.ci/perf-gate.yml` runs), the first one making the clone's `.venv`",
             "- `slower`: the model's forward runs 4 more empty loop iterations per call, uncommitted", "",
             "| case | exit | wall time | 1-min load before / after |", "|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['exit']} | {r['wall_s']} s | {r['load_before']} / {r['load_after']} |" for r in rows]
    for r in rows:
        lines += ["", f"## {r['case']}", "", (out / f"{r['case']}.md").read_text().strip()
                  if (out / f"{r['case']}.md").exists() else "(no table: " + " / ".join(r["tail"]) + ")"]
    (out / "README.md.tmp").write_text("\n".join(lines) + "\n")
    (out / "README.md.tmp").replace(out / "README.md")
    print("\n".join(lines))
    return 0 if [r["exit"] for r in rows] == [0, 1] else 1


if __name__ == "__main__":
    sys.exit(main())
