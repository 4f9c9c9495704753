"""Regenerate results_v1.json: a small, realistic schema-v1 run (numbers shaped on README "Measurement notes").

Run only when the v1 format deliberately changes: `python tests/golden/make_results_v1.py`.
The golden file is a contract with every reader of old runs; a diff in it is a format change.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.engine.measurement import Measurement, Parity, Spec  # noqa: E402
from bench.store.results import build_results  # noqa: E402

BANDWIDTH_BYTES_PER_S = 2.6e10
rng = random.Random(42)


def samples(median_s: float, n: int = 9, spread: float = 0.03) -> tuple[float, ...]:
    return tuple(float(f"{median_s * rng.lognormvariate(0.0, spread):.4g}") for _ in range(n))


def exact(reference: str = "state_dict eager model on the CPU") -> Parity:
    return Parity(0.0, 0, True, "bit-exact", reference)


def measured(phase, runtime, batch, median_s, parity, n=9, spread=0.03, calls=1, warnings=(), **extra):
    """Extras as bench/engine/floors.py and bench/engine/timing.py write them: bytes only from batch 10^5 on."""
    times = samples(median_s, n, spread)
    extra = {"minor_faults_per_call": 0.0, "threads": 2, **extra}
    if batch >= 100_000:
        median = sorted(times)[len(times) // 2]
        extra.update(bytes_moved=8 * batch, bytes_per_s=8 * batch / median,
                     bandwidth_efficiency=8 * batch / median / BANDWIDTH_BYTES_PER_S)
    return Measurement(Spec(phase, runtime, "cpu", batch), times, calls, parity, tuple(warnings), None, extra)


def skipped(phase, runtime, device, batch, reason):
    return Measurement(Spec(phase, runtime, device, batch), skip_reason=reason)


INFERENCE_S = {  # median seconds per call at batch 1, 10^3, 10^6, 10^7 on 2 AMD EPYC vCPUs
    "eager": (7.1e-6, 8.9e-6, 1.3e-4, 9.8e-3),
    "inference_mode": (6.8e-6, 8.4e-6, 1.25e-4, 9.5e-3),
    "torchscript": (7.7e-6, 9.6e-6, 1.4e-4, 1.01e-2),
    "exported_program": (1.2e-5, 1.4e-5, 1.42e-4, 1.03e-2),
    "onnxruntime": (6.0e-6, 8.1e-6, 7.6e-4, 8.1e-3),
    "torch_compile": (2.0e-5, 2.2e-5, 1.1e-4, 3.4e-3),
}
BATCH_SIZES = (1, 10**3, 10**6, 10**7)
TRAIN_SIZES = (40, 10**4, 10**6, 10**7)
TRAIN_S = {  # median seconds per epoch at N = 40, 10^4, 10^6, 10^7
    "eager": (1.6e-4, 2.1e-4, 3.1e-3, 2.8e-2),
    "fused": (2.5e-5, 4.0e-5, 2.0e-3, 1.9e-2),
    "torch_compile": (6.1e-5, 7.0e-5, 1.5e-3, 1.2e-2),
}


def measurements() -> list[Measurement]:
    out: list[Measurement] = []
    for runtime, medians in TRAIN_S.items():
        for n, median_s in zip(TRAIN_SIZES, medians):
            parity = None
            if runtime == "fused":
                parity = exact("eager loop's parameters after 100 epochs")
            elif runtime == "torch_compile":
                parity = Parity(0.0, 0, True, "max_abs_error <= 0.0001", "eager loop's parameters after 100 epochs")
            extra = {"timed": "train_epoch (one full-batch step)"}
            if runtime == "torch_compile":
                extra["compile_s"] = 19.5 if n == 40 else 1.1
            warnings = []
            kwargs = {}
            if runtime == "eager" and n == 10**7:
                warnings = ["too few samples: 5 < 9 (hit max_total_s)",
                            "unstable: IQR is 15% of the median (> 10%)"]
                kwargs = {"n": 5, "spread": 0.12}
                extra["minor_faults_per_call"] = 12.4
            out.append(measured("train_epoch", runtime, n, median_s, parity, warnings=warnings,
                                **kwargs, **extra))
    for n in TRAIN_SIZES:
        out.append(skipped("train_epoch", "cuda_graph", "cpu", n, "cuda_graph needs a CUDA device"))
    for runtime in (*TRAIN_S, "cuda_graph"):
        for n in TRAIN_SIZES:
            out.append(skipped("train_epoch", runtime, "cuda", n, "cuda: no CUDA device"))
    for runtime, medians in INFERENCE_S.items():
        for batch, median_s in zip(BATCH_SIZES, medians):
            parity = Parity(0.0, 0, True, "max_abs_error <= 1e-06", "state_dict eager model on the CPU")
            if runtime == "torch_compile" and batch >= 10**6:  # an FMA: one ulp at most
                parity = Parity(5.960464477539063e-08, 1, True, "max_abs_error <= 1e-06",
                                "state_dict eager model on the CPU")
            calls = max(1, int(2e-4 / median_s))  # samples of >= 0.2 ms keep the timer's 50 ns below 0.1%
            extra = {}
            if runtime == "onnxruntime":
                extra["provider"] = "CPUExecutionProvider"
            if runtime == "torch_compile":
                extra["compile_s"] = 19.5 if batch == 1 else 1.1
            warnings = ["unstable: IQR is 12% of the median (> 10%)"] if (runtime, batch) == ("torch_compile", 1) else []
            spread = 0.1 if warnings else 0.03
            out.append(measured("inference", runtime, batch, median_s, parity, calls=calls,
                                warnings=warnings, spread=spread, **extra))
    for runtime in INFERENCE_S:
        for batch in BATCH_SIZES:
            out.append(skipped("inference", runtime, "cuda", batch, "cuda: no CUDA device"))
    return out


ENVIRONMENT = {
    "cpu_model": "AMD EPYC 9B14",
    "cpu_count": 2,
    "gpu_name": None,
    "gpu_driver": None,
    "cuda_version": None,
    "versions": {"torch": "2.13.0+cpu", "onnxruntime": "1.32.0", "onnx": "1.23.2",
                 "onnxscript": "0.7.2", "numpy": "2.4.0", "python": "3.11.9"},
    "threads": {"torch": 2, "onnxruntime": 2},
    "allocator": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "268435456"},
    "git": {"commit": "8737064a1f3c2b9e0d4f5a6b7c8d9e0f1a2b3c4d", "dirty": False},
    "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
}
CONFIG = {
    "quick": False, "threads": 2, "warmups": 3, "min_time_s": 0.2, "min_samples": 9,
    "devices": ["cpu", "cuda"],
    "batch_sizes": [1, 1000, 1000000, 10000000],
    "train_sizes": [40, 10000, 1000000, 10000000],
}
FLOORS = {  # as bench/engine/floors.py writes them
    "empty_call_s": 2.5e-08,
    "timer_overhead_s": 5.1e-08,
    "timer_resolution_s": 6.0e-08,
    "bandwidth_bytes_per_s": BANDWIDTH_BYTES_PER_S,
    "bandwidth_copy_bytes": 400000000,
    "bandwidth_threads": 2,
    "bandwidth_warnings": [],
}

if __name__ == "__main__":
    results = build_results(ENVIRONMENT, CONFIG, FLOORS, measurements())
    results["created_utc"] = "2026-11-28T05:30:00Z"
    path = Path(__file__).with_name("results_v1.json")
    path.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(results['measurements'])} measurements)")
