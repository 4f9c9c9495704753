"""Null pairs and run-to-run spread from the BASE runs of a measure_regressions.py campaign.

Every BASE run of the campaign is the same configuration with LINREG_REGRESS unset, each a
separate `bench` process; taken in the order they ran, consecutive BASE runs are null pairs.
This gates each pair as a user would (`compare --fail-on median:5% --json`) and reports, per
measurement, the false alarms and the max/min over the runs of the raw median, estimate_s (the
time each run measured) and the host-normalised ratio. Nothing is re-measured or rescaled.

    python tests/benchmarks/null_from_bases.py --out /tmp/regressions --write spread.md
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

CLI = [sys.executable, "-m", "bench"]
ROOT = Path(__file__).resolve().parents[2]


def base_runs(out: Path) -> list[Path]:
    """Every finished BASE results.json, in the order the runs ended."""
    runs = [p for p in out.glob("runs/*/*-base/results.json")]
    return sorted(runs, key=lambda p: p.stat().st_mtime)


def _timed(path: Path) -> dict[str, dict]:
    doc = json.loads(path.read_text())
    return {f"{m['phase']}/{m['batch_size']}": m for m in doc["measurements"] if "times_s" in m}


def _spread(values: list[float]) -> str:
    return f"{max(values) / min(values):.3f}" if values else "-"


def gate(a: Path, b: Path) -> dict[str, dict]:
    done = subprocess.run([*CLI, "compare", str(a), str(b), "--fail-on", "median:5%", "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        sys.exit(f"error: compare failed on {a} {b}: {done.stderr.strip()[:300]}")
    return {m["key"].split("/")[0] + "/" + m["key"].split("/")[-1]: m
            for m in json.loads(done.stdout)["measurements"]}


def analyze(out: Path) -> list[str]:
    runs = base_runs(out)
    docs = [_timed(p) for p in runs]
    keys = sorted({k for d in docs for k in d})
    lines = [f"{len(runs)} BASE runs (separate `bench` processes, LINREG_REGRESS unset), "
             f"{max(len(runs) - 1, 0)} consecutive null pairs gated at median:5%.", "",
             "| measurement | raw median max/min | estimate_s max/min | host ratio max/min | null pairs flagged | figures gated |",
             "|---|---|---|---|---|---|"]
    verdicts = [gate(a, b) for a, b in zip(runs, runs[1:])]
    for k in keys:
        raw = [d[k]["median_s"] for d in docs if k in d]
        est = [d[k]["estimate_s"] for d in docs if k in d]
        host = [(d[k]["estimate"].get("host") or {}).get("ratio") for d in docs if k in d]
        flagged = [v[k] for v in verdicts if k in v and v[k]["verdict"] in ("slower", "faster")]
        figures = [v[k].get("figure") for v in verdicts if k in v]
        counts = ", ".join(f"{f} x{figures.count(f)}" for f in sorted(set(figures), key=str))
        lines.append(f"| {k} | {_spread(raw)} | {_spread(est)} | {_spread([h for h in host if h])} | "
                     f"{len(flagged)}/{len(verdicts)} | {counts} |")
    for v, (a, b) in zip(verdicts, zip(runs, runs[1:])):
        for k, m in sorted(v.items()):
            if m["verdict"] in ("slower", "faster"):
                lines.append(f"- false alarm: {a.parent.relative_to(out)} -> {b.parent.relative_to(out)} {k}: "
                             f"{m['verdict']} {m['ratio']:.3f}x [{m['ci_low']:.3f}, {m['ci_high']:.3f}] on {m['figure']}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="a measure_regressions.py campaign folder")
    p.add_argument("--write", help="also write these lines, with how they were made, to OUT/NAME")
    args = p.parse_args()
    lines = analyze(args.out)
    print("\n".join(lines))
    if args.write:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        head = ["# Null pairs and spread of the BASE runs", "",
                "Written by `tests/benchmarks/null_from_bases.py`; do not edit by hand.", "",
                f"- command: `python tests/benchmarks/null_from_bases.py --out {args.out} --write {args.write}`",
                f"- gated with commit `{commit}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", ""]
        (args.out / args.write).write_text("\n".join(head + lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
