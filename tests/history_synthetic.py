"""A synthetic history store: many runs on several machines over many commits, with known steps.

Used by the history tests and to build the dashboard of results/history-demo/ (its README.md):

    .venv/bin/python tests/history_synthetic.py /tmp/store --runs 200 --measurements 100
    time .venv/bin/linreg-bench history /tmp/store --out /tmp/site

Each run is a real results.json (bench.results.build_results). Samples are lognormal around a
per-measurement baseline with 2% spread plus a 1% run-to-run shift. At 60% of the commits one
measurement (the first inference one) gets 20% slower on every machine, and the first machine's
torch version changes at 80% of them (a fingerprint change the dashboard must mark).
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.history.store import file_run, open_store  # noqa: E402
from bench.engine.measurement import Measurement, Parity, Spec  # noqa: E402
from bench.store.results import build_results  # noqa: E402

RUNTIMES = {"inference": ("eager", "inference_mode", "torchscript", "exported_program",
                          "onnxruntime", "torch_compile", "numpy", "tensorrt"),
            "train_epoch": ("eager", "fused", "torch_compile", "cuda_graph")}
MACHINES = (("cpu-box", "AMD EPYC 7B13", 2, None), ("h200-box", "Intel Xeon 8480+", 16, "NVIDIA H200"),
            ("laptop", "Apple M3", 8, None))
SLOWED = "inference/eager/cpu/1"


def measurement_keys(count: int) -> list[tuple[str, str, int]]:
    """`count` distinct (phase, runtime, size) triples, sizes 1, 10, 100, ... per runtime."""
    pairs = [(phase, rt) for phase, runtimes in RUNTIMES.items() for rt in runtimes]
    keys = []
    exponent = 0
    while len(keys) < count:
        keys += [(phase, rt, 10 ** exponent) for phase, rt in pairs][:count - len(keys)]
        exponent += 1
    return keys


def base_seconds(phase: str, runtime: str, size: int) -> float:
    rng = random.Random(f"{phase}/{runtime}")
    return (2e-6 if phase == "inference" else 2e-5) * rng.uniform(0.5, 3.0) + size * 2e-10


def results_doc(machine: str, commit: str, when: str, medians: dict[tuple[str, str, int], float],
                rng: random.Random, samples: int = 30, spread: float = 0.02, torch: str = "2.13.0",
                cpu: str = "AMD EPYC 7B13", gpu: str | None = None) -> dict[str, Any]:
    """A results.json document: lognormal samples around each (phase, runtime, size)'s median."""
    measurements = []
    for (phase, runtime, size), median in medians.items():
        times = tuple(float(f"{median * rng.lognormvariate(0.0, spread):.4g}") for _ in range(samples))
        parity = Parity(0.0, 0, True, "bit-exact") if phase == "inference" else None
        measurements.append(Measurement(Spec(phase, runtime, "cpu", size), times, 1, parity))
    env = {"machine_id": machine, "cpu_model": cpu, "cpu_count": 2, "gpu_name": gpu,
           "machine": "x86_64", "platform": "Linux", "git": {"commit": commit, "dirty": False},
           "versions": {"torch": torch, "onnxruntime": "1.32.0", "numpy": "2.4.6", "python": "3.11.7"},
           "threads": {"torch": 1, "onnxruntime": 1}, "allocator": {}}
    doc = build_results(env, {"threads": 1, "quick": False}, {}, measurements)
    doc["created_utc"] = when
    for m in doc["measurements"]:  # each sample an independent draw, as bench's draws are
        m["processes"] = [{"median_s": m["median_s"], "n_samples": len(m["times_s"]),
                           "draws": [{"median_s": t, "n_samples": 1} for t in m["times_s"]]}]
    return doc


def run_document(machine: int, commit_index: int, commits: list[str], keys: list[tuple[str, str, int]],
                 rng: random.Random, samples: int, when: str) -> dict[str, Any]:
    name, cpu, _count, gpu = MACHINES[machine % len(MACHINES)]
    name = name if machine < len(MACHINES) else f"{name}-{machine}"
    shift = rng.lognormvariate(0.0, 0.01) / (1.0 + 0.5 * (machine % len(MACHINES)))
    medians = {}
    for phase, runtime, size in keys:
        medians[(phase, runtime, size)] = base_seconds(phase, runtime, size) * shift
        if f"{phase}/{runtime}/cpu/{size}" == SLOWED and commit_index >= int(0.6 * len(commits)):
            medians[(phase, runtime, size)] *= 1.2
    torch = "2.14.0" if machine == 0 and commit_index >= int(0.8 * len(commits)) else "2.13.0"
    return results_doc(name, commits[commit_index], when, medians, rng, samples, torch=torch,
                       cpu=cpu, gpu=gpu)


def utc(minutes: int) -> str:
    """A created_utc `minutes` after 2026-11-01T00:00Z."""
    return f"2026-11-{1 + minutes // 1440:02d}T{minutes % 1440 // 60:02d}:{minutes % 60:02d}:00Z"


def make_store(root: Path, runs: int = 200, measurements: int = 100, machines: int = 3,
               samples: int = 30, seed: int = 1) -> Path:
    """Fill a new store at `root`: `runs` runs spread round-robin over `machines` machines."""
    rng = random.Random(seed)
    store = open_store(root, create=True)
    keys = measurement_keys(measurements)
    n_commits = max(2, runs // machines)
    commits = [f"{rng.getrandbits(160):040x}" for _ in range(n_commits)]
    for i in range(runs):
        commit_index = min(i // machines, n_commits - 1)
        file_run(store, run_document(i % machines, commit_index, commits, keys, rng, samples, utc(10 * i)))
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a new or empty folder")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--measurements", type=int, default=100)
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--samples", type=int, default=30, help="timing samples per measurement")
    args = parser.parse_args(argv)
    make_store(args.store, args.runs, args.measurements, args.machines, args.samples)
    print(f"wrote {args.runs} runs x {args.measurements} measurements to {args.store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def file_runs(store: str, docs: list[dict[str, Any]]) -> None:
    """File `docs` into the store, in order: one concurrent writer of test_history_store (here, in
    a light module, so a spawned writer starts without importing torch)."""
    for d in docs:
        file_run(Path(store), d)
