"""SingleStream under LoadGen against `bench`'s per-call p50, same runtime, same machine, alternated.

    .venv/bin/python tests/benchmarks/loadgen_vs_bench.py --export-dir EXP --out DIR [--rounds 3]

Each round: `bench`'s per-request latency of ONNX Runtime at batch 1 (measure_inference, default
timing: up to 20,000 single calls, each between its own clock pair), LoadGen's floor (an empty
Python SUT, tests/benchmarks/loadgen_floor.py), then `linreg-bench loadgen --scenario
single-stream` for --duration-s (a process of its own, accuracy checked). Prints one line per
round with /proc/loadavg and writes DIR/summary.json (the README's "Latency under load" figures).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.runtimes.base import Artifacts
from bench.runtimes.measure import measure_inference
from bench.scenarios.runner import run_child
from bench.scenarios.settings import LoadgenConfig

FLOOR = Path(__file__).with_name("loadgen_floor.py")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def floor_p50_s(out: Path) -> float | None:
    """LoadGen's p50 for an empty Python SUT (1 s), read from the floor script's output."""
    out.mkdir(parents=True, exist_ok=True)
    text = subprocess.run([sys.executable, str(FLOOR), str(out)], capture_output=True, text=True).stdout
    for line in text.splitlines():
        if line.startswith("50.00 percentile"):
            return int(line.split(":")[-1]) * 1e-9
    return None


def one_round(artifacts: Artifacts, out: Path, duration_s: float, threads: int) -> dict[str, Any]:
    before = loadavg()
    m = measure_inference("onnxruntime", "cpu", [1], artifacts, threads)[0]
    floor_s = floor_p50_s(out / "floor")
    result = run_child(LoadgenConfig("single-stream", "onnxruntime", duration_s=duration_s, threads=threads),
                       artifacts, out / "single-stream")
    bench_p50 = m.extra["latency_s"]["p50"]
    lg_p50 = (result.get("latency_s") or {}).get("p50")
    return {"bench_per_call_p50_s": bench_p50, "bench_block_median_s": m.median_s,
            "bench_calls": m.extra["latency_s"]["n"], "loadgen_floor_p50_s": floor_s,
            "loadgen_p50_s": lg_p50, "loadgen_valid": result["valid"],
            "accuracy": result.get("accuracy"), "ratio": lg_p50 / bench_p50 if lg_p50 else None,
            "loadavg_before": before, "loadavg_after": loadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    artifacts = Artifacts.from_export_dir(args.export_dir)
    rounds = []
    for i in range(args.rounds):
        r = one_round(artifacts, args.out / f"round-{i}", args.duration_s, args.threads)
        rounds.append(r)
        us = {k: f"{r[k] * 1e6:.2f} us" if r[k] else "n/a"
              for k in ("bench_per_call_p50_s", "loadgen_floor_p50_s", "loadgen_p50_s")}
        print(f"round {i}: bench per-call p50 {us['bench_per_call_p50_s']}, LoadGen floor p50 "
              f"{us['loadgen_floor_p50_s']}, LoadGen SingleStream p50 {us['loadgen_p50_s']} "
              f"({'VALID' if r['loadgen_valid'] else 'INVALID'}), ratio "
              f"{r['ratio']:.2f}x; load {r['loadavg_before']} -> {r['loadavg_after']}", flush=True)
    (args.out / "summary.json").write_text(json.dumps({"rounds": rounds, "duration_s": args.duration_s,
                                                       "threads": args.threads}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
