"""Measure the gate on this machine: false positives on HEAD vs HEAD, detection of injected slowdowns.

Each run is one interleaved same-job comparison (`linreg-bench compare --rev HEAD`) with the default
settings. Null runs compare HEAD with itself; injected runs make the candidate's driver spin a
fraction longer per timed chunk (LINREG_INTERLEAVE_INJECT_SLOWDOWN, driver only). Every run's two
results documents are saved, so the verdicts can be recomputed for any threshold afterwards.

    .venv/bin/python tests/benchmarks/measure_fpr.py --out /tmp/fpr --nulls 10 --slowdowns 0.05,0.1,0.2 --repeats 2
    .venv/bin/python tests/benchmarks/measure_fpr.py --out /tmp/fpr --analyze
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def run(out: Path, nulls: int, slowdowns: list[float], repeats: int, rounds: int, block_s: float) -> None:
    from bench.compare.gate import MedianGate
    from bench.compare.interleave import InterleaveConfig, compare_revision

    # Alternate null and injected runs so slow phases of the host hit both kinds alike.
    ordered: list[float] = []
    nul = [0.0] * nulls
    inj = [s for _ in range(repeats) for s in slowdowns]
    while nul or inj:
        if nul:
            ordered.append(nul.pop())
        if inj:
            ordered.append(inj.pop(0))
    for i, inject in enumerate(ordered):
        run_dir = out / f"run{i:02d}_inject{inject:.2f}"
        if (run_dir / "new.json").exists():
            continue
        t0 = time.time()
        config = InterleaveConfig(rounds=rounds, block_s=block_s, inject_slowdown=inject)
        c = compare_revision("HEAD", config, MedianGate(), save_dir=str(run_dir), quiet=True)
        print(f"run {i}: inject {inject:.0%}: {len(c.regressions)} regressed "
              f"({', '.join(r.label for r in c.regressions)}) in {time.time() - t0:.0f} s", flush=True)


def analyze(out: Path, thresholds: list[float], alpha: float) -> dict:
    from bench.compare import compare_files, load_bench_file
    from bench.compare.gate import MedianGate

    report: dict = {}
    for t in thresholds:
        gate = MedianGate(threshold=t, alpha=alpha)
        by_inject: dict[str, dict] = {}
        for run_dir in sorted(out.glob("run*_inject*")):
            if not (run_dir / "new.json").exists():
                continue
            inject = run_dir.name.split("inject")[1]
            c = compare_files(load_bench_file(run_dir / "base.json"), load_bench_file(run_dir / "new.json"), gate)
            d = by_inject.setdefault(inject, {"runs": 0, "runs_failed": 0, "measurements": 0,
                                              "measurements_flagged": 0, "ratios": {}})
            d["runs"] += 1
            d["runs_failed"] += bool(c.regressions)
            for r in c.rows:
                if r.stats is None:
                    continue
                d["measurements"] += 1
                d["measurements_flagged"] += r.verdict == "slower"
                d["ratios"].setdefault(r.label, []).append(round(r.stats.ratio, 4))
        report[f"median:{t * 100:g}%"] = by_inject
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--nulls", type=int, default=10)
    p.add_argument("--slowdowns", default="0.05,0.1,0.2")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--block-s", type=float, default=0.5)
    p.add_argument("--analyze", action="store_true")
    p.add_argument("--thresholds", default="0.03,0.05,0.1")
    p.add_argument("--alpha", type=float, default=0.002)
    args = p.parse_args()
    if not args.analyze:
        run(args.out, args.nulls, [float(s) for s in args.slowdowns.split(",") if s],
            args.repeats, args.rounds, args.block_s)
    report = analyze(args.out, [float(t) for t in args.thresholds.split(",")], args.alpha)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(summary(report))
    return 0


def summary(report: dict) -> str:
    """Markdown: per gate and injected slowdown, runs that failed and measurements flagged."""
    lines = ["| gate | injected slowdown | runs failing | measurements flagged | ratio range |",
             "|---|---|---|---|---|"]
    for gate, by_inject in report.items():
        for inject, d in sorted(by_inject.items()):
            ratios = [r for rs in d["ratios"].values() for r in rs]
            lines.append(f"| {gate} | {float(inject):.0%} | {d['runs_failed']}/{d['runs']} | "
                         f"{d['measurements_flagged']}/{d['measurements']} | "
                         f"{min(ratios):.3f}-{max(ratios):.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
