"""Issue 21's targets for instruction counts: separate `bench --metric instructions` runs, gated.

1. calibrates, in one valgrind process, a real +2% change of the regress plug-in runtime
   (tests/plugins/regress_runtime, LINREG_REGRESS=python: LINREG_REGRESS_SPIN iterations of
   interpreter work per call, 1 in BASE and 1 + k in NEW): both counts in the same process;
2. runs --runs separate `bench --metric instructions --quick` processes (BASE code), then one
   with the +2% change (NEW), each one valgrind worker at a time (--instruction-processes 1);
3. gates with `compare --json` at the instruction default (median:1%): BASE run 1 against the
   NEW run, and every pair of BASE runs (the null pairs);
4. writes README.md: per target the max/min of instructions_per_call over the runs, the
   repeats' spread, the gate's verdicts, and each run's wall time.

Resumable: a run whose results.json exists is kept. Paths are relative to the repository root.

    python tests/benchmarks/measure_instructions.py --out results/instructions --runs 5
    python tests/benchmarks/measure_instructions.py --out results/instructions --analyze
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure_regressions import (ROOT, environment, plugin_site, prepare, rel, run, say,  # noqa: E402
                                 started_info)

TARGET_CHANGE = 0.02
BASE_SPIN = 1   # BASE runs: LINREG_REGRESS=python with 1 iteration; NEW: 1 + enough for +2%
RUNTIMES = ["eager", "torchscript", "onnxruntime", "regress"]
VARIANTS = ["eager", "fused"]
BENCH_ARGS = ["--quick", "--devices", "cpu", "--runtimes", *RUNTIMES, "--variants", *VARIANTS,
              "--batch-sizes", "1", "1000", "--train-sizes", "40", "--metric", "instructions",
              "--instruction-processes", "1"]
SLOWED = ("inference/regress/cpu/1", "inference/regress/cpu/1000")


def calibrate_inside(out_dir: str, export_dir: str) -> dict[str, Any]:
    """Under valgrind: the regress runtime's count per call with the python change off, with 100
    iterations (their cost), and with the iterations that add TARGET_CHANGE at batch 1."""
    from bench.engine.callgrind import Collector, count_workload, plan_for
    from bench.runtimes import runtime_entry
    from bench.runtimes.base import Artifacts, make_input
    import torch

    torch.set_num_threads(1)
    collector = Collector(out_dir)
    runtime = runtime_entry("regress").make()
    runtime.load(Artifacts.from_export_dir(Path(export_dir)), "cpu", 1)
    eff = runtime.effect

    def per_call(size: int, iterations: int | None) -> float:
        eff.spin, eff.iterations = iterations is not None, iterations or 0
        bound = runtime.bind(make_input(size))
        record = count_workload(bound.call, plan_for(size), collector)
        return sum(record["repeats_per_call"]) / len(record["repeats_per_call"])

    # BASE_SPIN in BASE too: switching python_work on at all costs ~1.9k instructions (the call,
    # its counter, range()), 5% of a batch-1 call; only the added iterations are the change
    off = {size: per_call(size, BASE_SPIN) for size in (1, 1000)}
    per_iteration = (per_call(1, BASE_SPIN + 100) - off[1]) / 100
    spin = BASE_SPIN + max(1, round(TARGET_CHANGE * off[1] / per_iteration))
    on = {size: per_call(size, spin) for size in (1, 1000)}
    return {"base_spin": BASE_SPIN, "spin": spin, "per_iteration": per_iteration, "off_per_call": off,
            "on_per_call": on, "true_ratio": {str(s): on[s] / off[s] for s in off}}


def calibrate(out: Path, site: Path | None) -> dict[str, Any]:
    path = out / "calibration.json"
    if path.exists():
        return json.loads(path.read_text())
    say("calibrating the +2% change under valgrind (one process)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**environment(site, "python", worker=True), "PYTHONHASHSEED": "0"}  # as bench's workers
        done = run(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--quiet",
                    f"--callgrind-out-file={tmp}/cg.%p.out", sys.executable, rel(Path(__file__)),
                    "--calibrate-in", tmp, "--export-dir", rel(out / "export")], env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def bench_run(out: Path, name: str, site: Path | None, spin: int) -> None:
    run_dir = out / "runs" / name
    if (run_dir / "results.json").exists():
        return
    env = environment(site, "python")
    env["LINREG_REGRESS_SPIN"] = str(spin)
    say(f"bench run {name}")
    start = time.perf_counter()
    run([sys.executable, "-m", "bench", "bench", "--export-dir", rel(out / "export"), "--out", rel(run_dir),
         *BENCH_ARGS], env=env, log=out / "runs" / f"{name}.log")
    (run_dir / "wall_s.json").write_text(json.dumps({"wall_s": round(time.perf_counter() - start, 1),
                                                     "load": [round(x, 2) for x in os.getloadavg()]}))


def gate(out: Path, base: str, new: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench", "compare", str(out / "runs" / base / "results.json"),
                           str(out / "runs" / new / "results.json"), "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"error: compare {base} {new} exited {done.returncode}: {done.stderr[-500:]}")
    report = json.loads(done.stdout)
    return {"base": base, "new": new, "exit": done.returncode, "metric": report["gate"]["metric"],
            "verdicts": {m["label"]: (m["verdict"], m["ratio"]) for m in report["measurements"]}}


def counts(out: Path, name: str) -> dict[str, dict[str, Any]]:
    data = json.loads((out / "runs" / name / "results.json").read_text())
    return {f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}": m.get("instructions") or {}
            for m in data["measurements"]}


def _median(values: list[float]) -> float:
    s = sorted(values)
    return (s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2


def table(out: Path, bases: list[str]) -> list[str]:
    """Per measurement: each BASE run's instructions per call, max/min over runs, worst spread."""
    per_run = [counts(out, b) for b in bases]
    lines = ["| measurement | instructions per call (runs) | max/min over runs | worst repeats' spread | <= 1.005 |",
             "|---|---|---|---|---|"]
    for label in per_run[0]:
        records = [r.get(label, {}) for r in per_run]
        if not all(rec.get("repeats_per_call") for rec in records):
            why = next((rec.get("skip_reason") for rec in records if rec.get("skip_reason")), "not counted")
            lines.append(f"| {label} | {why} | - | - | - |")
            continue
        values = [_median(rec["repeats_per_call"]) for rec in records]
        ratio = max(values) / min(values)
        lines.append(f"| {label} | {', '.join(f'{v:,.0f}' for v in values)} | {ratio:.4f} | "
                     f"{max(rec['spread'] for rec in records):.3%} | {'yes' if ratio <= 1.005 else '**no**'} |")
    return lines


def gate_lines(out: Path, bases: list[str], calibration: dict[str, Any]) -> list[str]:
    slow = gate(out, bases[0], "slow-1")
    nulls = [gate(out, a, b) for a, b in itertools.combinations(bases, 2)]
    truth = ", ".join(f"batch {k}: {v:.4f}x" for k, v in calibration["true_ratio"].items())
    lines = [f"The +2% change: the regress plug-in runtime with LINREG_REGRESS=python runs "
             f"{calibration['base_spin']} interpreter loop iteration per call in BASE and "
             f"{calibration['spin']} in NEW ({calibration['per_iteration']:.0f} instructions each); its "
             f"true size, counted in one valgrind process with the change off and on: {truth}.", "",
             f"- {bases[0]} vs slow-1 (gate: {slow['metric']}, exit {slow['exit']}): "
             + "; ".join(f"{k} {slow['verdicts'][k][0]} ({slow['verdicts'][k][1]:.4f}x)"
                         for k in SLOWED if k in slow["verdicts"])]
    passed = sum(1 for g in nulls if g["exit"] == 0)
    lines.append(f"- null pairs (every pair of BASE runs): {passed} of {len(nulls)} pass")
    for g in nulls:
        flagged = [f"{k} {v[0]} ({v[1]:.4f}x)" for k, v in g["verdicts"].items() if v[0] != "unchanged"]
        worst = max((abs(v[1] - 1) for v in g["verdicts"].values() if v[1] is not None), default=0.0)
        lines.append(f"  - {g['base']} vs {g['new']}: exit {g['exit']}, largest |ratio - 1| {worst:.4f}"
                     + (f"; not unchanged: {', '.join(flagged)}" if flagged else ""))
    return lines


def write_readme(out: Path, bases: list[str], calibration: dict[str, Any], info: dict[str, Any]) -> None:
    walls = {n: json.loads((out / "runs" / n / "wall_s.json").read_text())
             for n in [*bases, "slow-1"] if (out / "runs" / n / "wall_s.json").exists()}
    text = "\n".join([
        "# Instruction counts under Callgrind: spread over separate runs, and the gate", "",
        f"- command: `{info['command']}`", f"- commit: {info['commit']}", f"- date: {info['date']}",
        f"- machine: {info['uname']}, {info['nproc']} vCPUs, shared (another timing campaign ran)",
        f"- load (1/5/15 min) at start: {info['load']}",
        f"- each run: `python -m bench bench --export-dir ... {' '.join(BENCH_ARGS)}`", "",
        f"## Over {len(bases)} separate runs", "", *table(out, bases), "",
        "## The gate (compare, default instruction threshold median:1%)", "",
        *gate_lines(out, bases, calibration), "",
        "## Wall time of each run (one valgrind worker at a time, 6 workers a run)", "",
        *[f"- {n}: {w['wall_s']:.0f} s (load after: {w['load']})" for n, w in walls.items()], "",
    ])
    notes = out / "notes.md"  # what was learnt while measuring, written by hand, kept on --analyze
    if notes.exists():
        text += "\n" + notes.read_text()
    (out / "README.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "results" / "instructions")
    p.add_argument("--runs", type=int, default=5, help="separate BASE runs (default 5)")
    p.add_argument("--analyze", action="store_true", help="only rewrite README.md from the runs there")
    p.add_argument("--calibrate-in", help=argparse.SUPPRESS)  # inside valgrind (calibrate)
    p.add_argument("--export-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.calibrate_in:
        print(json.dumps(calibrate_inside(args.calibrate_in, args.export_dir)))
        return 0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    info_path = out / "started.json"
    if not info_path.exists():
        args_given = sys.argv[1:] if argv is None else argv
        info = started_info(args_given)  # measure_regressions' record, with this script's command
        info["command"] = " ".join(["python", rel(Path(__file__)), *args_given])
        info_path.write_text(json.dumps(info))
    prepare(out)
    site = plugin_site(out)
    calibration = calibrate(out, site)
    bases = [f"base-{i + 1}" for i in range(args.runs)]
    if not args.analyze:
        bench_run(out, bases[0], site, BASE_SPIN)
        bench_run(out, "slow-1", site, calibration["spin"])
        for name in bases[1:]:
            bench_run(out, name, site, BASE_SPIN)
    bases = [b for b in bases if (out / "runs" / b / "results.json").exists()]
    write_readme(out, bases, calibration, json.loads(info_path.read_text()))
    say(f"wrote {rel(out / 'README.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
