"""Do the numbers reproduce, and does the gate stay quiet when nothing changed? Separate `bench`
runs of one configuration, beside an optional neighbour job, and the null pairs' verdicts.

Each run is a fresh `linreg-bench bench` process with the issue-9 configuration:
    --devices cpu --runtimes eager onnxruntime --variants eager --batch-sizes 1 1000000
    --train-sizes 40   (default --processes and timing)
For each target measurement it reports the max/min over the runs of: the raw median, estimate_s
(the time each run measured: the first quartile of its draws' medians) and the host-normalised ratio
(workload / the companion's reference, what `compare` gates on within one environment). Null
pairs are consecutive runs (i vs i+1), gated by `compare --fail-on median:5%` as a user would,
and with --raw for contrast. Real slowdowns are measured by measure_regressions.py, not by
scaling samples here.

The neighbour runs for the whole series: `cpu` is a busy Python loop, `memory` repeatedly
allocates, touches and frees about 1.5 GB.

    .venv/bin/python tests/benchmarks/measure_spread.py --out /tmp/spread-quiet --runs 10 \\
        --record results/spread/quiet
    .venv/bin/python tests/benchmarks/measure_spread.py --out /tmp/spread-mem --neighbour memory \\
        --runs 10 --record results/spread/memory-neighbour
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import short_commit, train_and_export  # noqa: E402

TARGETS = ("train_epoch/eager/cpu/40", "inference/eager/cpu/1000000", "inference/onnxruntime/cpu/1")
CLI = [sys.executable, "-m", "bench"]
ROOT = Path(__file__).resolve().parents[2]
NEIGHBOURS = {
    "none": None,
    "cpu": "while True: pass",
    "memory": ("import numpy as np\nwhile True:\n    a = np.ones(1_500_000_000 // 8)\n"
               "    a += 1.0\n    del a\n"),
}
BENCH_ARGS = ["--devices", "cpu", "--runtimes", "eager", "onnxruntime", "--variants", "eager",
              "--batch-sizes", "1", "1000000", "--train-sizes", "40"]


def run(out: Path, runs: int, extra: list[str]) -> None:
    export = train_and_export(out)
    for i in range(runs):
        run_dir = out / f"run{i:02d}"
        if (run_dir / "results.json").exists():
            continue
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        subprocess.run([*CLI, "bench", "--export-dir", str(export), "--out", str(run_dir), *BENCH_ARGS,
                        *extra], check=True, capture_output=True)
        wall = time.monotonic() - t0
        skipped = [k for k, m in _entries(run_dir / "results.json", timed=False).items() if "times_s" not in m]
        if skipped:  # a run that measured nothing must not pass for a quiet one
            sys.exit(f"error: run {i} skipped measurements: {', '.join(skipped)[:300]}")
        (run_dir / "wall.json").write_text(json.dumps({"wall_s": wall, "load_start": load,
                                                       "load_end": os.getloadavg()[0]}))
        print(f"run {i}: {wall:.1f} s, load {load:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)


def _entries(path: Path, timed: bool = True) -> dict[str, dict]:
    doc = json.loads(path.read_text())
    return {f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}": m for m in doc["measurements"]
            if "times_s" in m or not timed}


def _gate(base: Path, new: Path, raw: bool) -> dict[str, dict]:
    """compare --fail-on median:5% --json, as a user runs it: {key: measurement verdict}."""
    cmd = [*CLI, "compare", str(base), str(new), "--fail-on", "median:5%", "--json", *(["--raw"] if raw else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"error: compare failed: {done.stderr.strip()[:300]}")
    return {m["key"]: m for m in json.loads(done.stdout)["measurements"]}


def _spread(values: list[float]) -> str:
    return f"{max(values) / min(values):.3f}" if values else "-"


def _log_ratios(m: dict) -> list[list[float]]:
    """Per worker process, the log host ratio of each of its draws."""
    return [[math.log(d["ratio"]) for d in p.get("draws", []) if d.get("ratio")] for p in m["processes"]]


def components(docs: list[dict[str, dict]]) -> list[str]:
    """Where the run-to-run spread of the host ratio comes from (one-way ANOVA of log ratios per
    run, pooled over the runs): the draws' own noise within a process (s_w), and an effect of
    each worker process (s_p: its buffers' and its companion's layout, and host states the
    reference does not track), and an effect of the whole run (s_r: what the run's processes
    share). A run's ratio moves by about sqrt(s_r^2 + s_p^2/K + s_w^2/(K R)) with K processes
    of R draws: what more processes (bench --processes) would buy, and what they cannot."""
    lines = ["", "| measurement | draws per process | s_w (within a process) | s_p (per process) | "
             "s_r (per run) | run sd observed | expected, 3 processes | expected, 6 processes |",
             "|---|---|---|---|---|---|---|---|"]
    for key in TARGETS:
        within, between, runs, rounds = [], [], [], []
        for d in docs:
            procs = [p for p in _log_ratios(d[key]) if len(p) > 1]
            if len(procs) < 2:
                continue
            within += [statistics.variance(p) for p in procs]
            means = [statistics.fmean(p) for p in procs]
            between.append(statistics.variance(means))
            runs.append(statistics.fmean(means))
            rounds.append(statistics.median(len(p) for p in procs))
        if len(runs) < 2:
            continue
        r = statistics.median(rounds)
        s_w2 = statistics.fmean(within)
        s_p2 = max(statistics.fmean(between) - s_w2 / r, 0.0)
        k_now = statistics.median(len(_log_ratios(d[key])) for d in docs)
        s_r2 = max(statistics.variance(runs) - statistics.fmean(between) / k_now, 0.0)
        expect = [math.sqrt(s_r2 + s_p2 / k + s_w2 / (k * r)) for k in (3, 6)]
        lines.append(f"| {key} | {r:g} | {math.sqrt(s_w2):.1%} | {math.sqrt(s_p2):.1%} | {math.sqrt(s_r2):.1%} | "
                     f"{statistics.stdev(runs):.1%} | {expect[0]:.1%} | {expect[1]:.1%} |")
    return lines + ["", "(sd of log host ratios; a run's ratio is the median of its draws; 6 processes"
                    " keep the draws per process)"]


def analyze(out: Path, neighbour: str) -> list[str]:
    files = sorted(out.glob("run*/results.json"))
    walls = [json.loads((f.parent / "wall.json").read_text()) for f in files]
    lines = [f"{len(files)} runs, neighbour: {neighbour}; wall {min(w['wall_s'] for w in walls):.1f}-"
             f"{max(w['wall_s'] for w in walls):.1f} s; 1-min load {min(w['load_start'] for w in walls):.2f}-"
             f"{max(w['load_end'] for w in walls):.2f}", "",
             "| measurement | raw median max/min | estimate_s max/min | host ratio max/min | host ratio usable |",
             "|---|---|---|---|---|"]
    docs = [_entries(f) for f in files]
    for key in TARGETS:
        raw = [d[key]["median_s"] for d in docs]
        est = [d[key]["estimate_s"] for d in docs]
        hosts = [d[key]["estimate"].get("host") or {} for d in docs]
        ratios = [h["ratio"] for h in hosts if h.get("ratio")]
        usable = sum(h.get("usable") is True for h in hosts)
        lines.append(f"| {key} | {_spread(raw)} | {_spread(est)} | {_spread(ratios)} | {usable}/{len(docs)} |")
    lines += components(docs)
    pairs = list(zip(files, files[1:]))
    lines += ["", "| null pairs at median:5% | false alarms | figure gated (per pair x measurement) |",
              "|---|---|---|"]
    for raw in (False, True):
        verdicts = [_gate(a, b, raw) for a, b in pairs]
        alarms = sum(any(v[k]["verdict"] in ("slower", "faster") for k in TARGETS) for v in verdicts)
        figures = [v[k].get("figure") for v in verdicts for k in TARGETS]
        counts = ", ".join(f"{f} x{figures.count(f)}" for f in sorted(set(figures), key=str))
        lines.append(f"| {'--raw' if raw else 'default'} | {alarms}/{len(pairs)} | {counts} |")
        for (a, b), v in zip(pairs, verdicts):
            for k in TARGETS:
                if v[k]["verdict"] in ("slower", "faster"):
                    lines.append(f"|  | {a.parent.name} -> {b.parent.name} {k}: {v[k]['verdict']} "
                                 f"{v[k]['ratio']:.3f} [{v[k]['ci_low']:.3f}, {v[k]['ci_high']:.3f}] | {v[k]['figure']} |")
        if not raw:
            lines += _every_measurement(pairs, verdicts)
    return lines


def _every_measurement(pairs: list[tuple[Path, Path]], verdicts: list[dict[str, dict]]) -> list[str]:
    """The default gate's false alarms over every measurement of the runs, as a user's gate sees
    them (the table above counts the three targets)."""
    keys = sorted({k for v in verdicts for k in v})
    flagged = [(a, b, k, v[k]) for (a, b), v in zip(pairs, verdicts) for k in keys
               if k in v and v[k]["verdict"] in ("slower", "faster")]
    lines = [f"| default, all {len(keys)} measurements | {len({(a, b) for a, b, _, _ in flagged})}/{len(pairs)} "
             f"| {sum(k in v for v in verdicts for k in keys)} pairs x measurement |"]
    for a, b, k, m in flagged:
        if k not in TARGETS:
            lines.append(f"|  | {a.parent.name} -> {b.parent.name} {k}: {m['verdict']} {m['ratio']:.3f} "
                         f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}] | {m['figure']} |")
    return lines


def record(folder: Path, lines: list[str], argv: list[str], out: Path) -> None:
    """README.md beside the data (the command, the commit that gated and the one that measured,
    date, machine, the tables) and the raw runs: each runNN/results.json and wall.json."""
    commit = short_commit()
    folder.mkdir(parents=True, exist_ok=True)
    measured, created, cpus = set(), [], set()
    for f in sorted(out.glob("run*/results.json")):
        doc = json.loads(f.read_text())
        measured.add(str((doc.get("environment", {}).get("git") or {}).get("commit", "?"))[:7])
        cpus.add(str(doc.get("environment", {}).get("cpu_model", "?")))  # the runs' machine kind
        created.append(str(doc.get("created_utc", "?"))[:16])
        (folder / f.parent.name).mkdir(exist_ok=True)
        for name in ("results.json", "wall.json"):
            if (folder / f.parent.name / name).resolve() != (f.parent / name).resolve():
                shutil.copyfile(f.parent / name, folder / f.parent.name / name)
    head = [f"# Spread of separate `bench` runs: {folder.name}", "",
            "Written by `tests/benchmarks/measure_spread.py`; do not edit by hand.", "",
            f"- command: `python tests/benchmarks/measure_spread.py {' '.join(argv)}`",
            f"- gated and written at commit `{commit}`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- measured at commit `{', '.join(sorted(measured))}`, runs created {min(created, default='?')}"
            f" to {max(created, default='?')} UTC",
            f"- machine: {', '.join(sorted(cpus))}, {platform.machine()}, {os.cpu_count()} CPUs, "
            f"{platform.platform()}",
            f"- bench flags: `{' '.join(BENCH_ARGS)}`; raw: `runNN/results.json`, `runNN/wall.json`", ""]
    tmp = folder / "README.md.tmp"
    tmp.write_text("\n".join(head + lines) + "\n")
    tmp.replace(folder / "README.md")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="working folder (runs are resumable)")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--neighbour", choices=sorted(NEIGHBOURS), default="none")
    p.add_argument("--record", type=Path, help="write README.md (the tables and how) into this folder")
    p.add_argument("--analyze", action="store_true", help="only analyse the runs already in --out")
    p.add_argument("extra", nargs="*", help="more bench flags after --, e.g. -- --processes 5")
    args = p.parse_args()
    job = None
    if NEIGHBOURS[args.neighbour] and not args.analyze:
        job = subprocess.Popen([sys.executable, "-c", NEIGHBOURS[args.neighbour]])
        time.sleep(3)
    try:
        if not args.analyze:
            run(args.out, args.runs, args.extra)
    finally:
        if job is not None:
            job.kill()
            job.wait()
    lines = analyze(args.out, args.neighbour)
    print("\n".join(lines))
    if args.record:
        record(args.record, lines, sys.argv[1:], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
