"""How fast ORT runs the naive [N, 1] graph vs the exported flat graph, against numpy's floor.

    linreg-bench export-speed [--batches 1000000 10000000] [--repeats 20]
    python -m bench.runtimes.graph_speed [same options]

Everything runs in one process with one thread each (ORT intra-op 1, torch 1, numpy is single
threaded), each (variant, batch) pair is warmed first, outputs are preallocated where the
runtime allows it (numpy out=, ORT io_binding), and minor page faults per call are reported:
at 10^6-10^7 elements a fresh output buffer page-faults on every call (bench/engine/allocator.py).
The floor is numpy `np.multiply(x, w, out=y); np.add(y, b, out=y)`.
A measurement, not a test: the numbers go into reports, never into assertions.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.engine.timing import GC_POLICY, TimingConfig, time_each_call
from export.graphs import FlatLine, batch_dynamic_shapes, example_input
from export.loaders import make_ort_session
from export.manifest import INPUT_NAME, OUTPUT_NAME
from export.quiet import quiet
from linreg.argtypes import positive_int
from linreg.models import LinearRegressionModel, line_parameters

DEFAULT_BATCHES = (1_000_000, 10_000_000)
DEFAULT_REPEATS = 20  # calls timed per (variant, batch), after 3 warmups
WARMUPS = 3
SPEED_TIMING = TimingConfig(warmup_calls=WARMUPS, warmup_s=0.0)
# Refused up front unless --yes: ~24 bytes per element are live at once (x, y, torch and ORT
# outputs), so 10^8 is ~2.4 GB; and ~6 variants x (repeats + warmups) x batch elements at up to
# ~10 ns each (ORT's naive graph) makes 5 x 10^9 element-calls about five minutes here.
MAX_BATCH = 10**8
MAX_REPEATS = 100_000
MAX_WORK = 5 * 10**9
YES_FACTOR = 100  # --yes permits 100x either limit (hours, not never): 10^7 repeats, 5e11 element-calls


YES_HELP = (f"run past the time limits, up to {YES_FACTOR}x ({MAX_REPEATS * YES_FACTOR:.0e} repeats, "
            f"{MAX_WORK * YES_FACTOR:.0e} element-calls: hours)")


def check_budget(batches: list[int] | tuple[int, ...], repeats: int, yes: bool = False) -> None:
    """Refuse sizes that cannot fit in memory or finish in minutes, naming the limit (--yes overrides
    the time limit, never the memory one: a batch past MAX_BATCH would not allocate)."""
    from linreg.errors import LinregError

    too_big = [b for b in batches if b > MAX_BATCH]
    if too_big:
        raise LinregError(f"--batches {too_big[0]} is over the limit of {MAX_BATCH} elements "
                          f"(~{24 * MAX_BATCH >> 30} GiB of buffers at that size)")
    scale, hint = (YES_FACTOR, " even with --yes") if yes else (1, f"; --yes permits {YES_FACTOR}x")
    if repeats > MAX_REPEATS * scale:
        raise LinregError(f"--repeats {repeats:.3g} is over the limit of {MAX_REPEATS * scale:.0e}{hint}")
    work = sum(batches) * (repeats + WARMUPS)
    if work > MAX_WORK * scale:
        raise LinregError(f"--batches x --repeats is {work:.3g} element-calls per variant, over the limit of "
                          f"{MAX_WORK * scale:.0e} (minutes of runtime per 5e9){hint}")


def export_onnx_file(module: torch.nn.Module, path: Path) -> Path:
    """Dynamo-export `module` with a dynamic batch to one self-contained file."""
    with quiet():
        program = torch.onnx.export(module.eval(), (example_input(),), dynamo=True,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_shapes=batch_dynamic_shapes(),
                                    external_data=False, verbose=False)
        program.save(str(path), external_data=False)
    return path


def time_calls(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median seconds per call, minor page faults per call) over `repeats` calls timed one by one
    through the engine (its warmup rule with WARMUPS calls, its GC policy)."""
    samples = time_each_call(call, repeats, SPEED_TIMING)
    return statistics.median(samples.times_s), samples.minor_faults_per_call


def ort_variants(path: Path, x: np.ndarray) -> dict[str, Callable[[], object]]:
    """run() (allocates its output each call) and io_binding into a preallocated output."""
    import onnxruntime as ort

    session = make_ort_session(path, "cpu", threads=1)
    y = np.empty_like(x)
    binding = session.io_binding()
    binding.bind_cpu_input(INPUT_NAME, x)
    binding.bind_output(OUTPUT_NAME, "cpu", 0, np.float32, list(y.shape), y.ctypes.data)
    run_options = ort.RunOptions()
    return {
        "run": lambda: session.run([OUTPUT_NAME], {INPUT_NAME: x}),
        # y rides in the closure: ORT writes through its raw pointer, so it must outlive the binding.
        "io_binding": lambda y=y: session.run_with_iobinding(binding, run_options),
    }


def measure(batches: tuple[int, ...], repeats: int) -> list[dict[str, object]]:
    torch.manual_seed(42)
    model = LinearRegressionModel().eval()
    weight, bias = (float(t.detach()) for t in line_parameters(model))
    w32, b32 = np.float32(weight), np.float32(bias)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        naive = export_onnx_file(model, Path(tmp) / "naive.onnx")
        flat = export_onnx_file(FlatLine(model), Path(tmp) / "flat.onnx")
        for batch in batches:
            x = np.random.default_rng(0).random((batch, 1), dtype=np.float32)
            y = np.empty_like(x)
            xt = torch.from_numpy(x)
            yt = torch.empty_like(xt)
            w_t, b_t = torch.tensor(w32), torch.tensor(b32)

            def numpy_out() -> None:
                np.multiply(x, w32, out=y)
                np.add(y, b32, out=y)

            def torch_out() -> None:
                torch.mul(xt, w_t, out=yt)
                yt.add_(b_t)

            variants: dict[str, Callable[[], object]] = {"numpy w*x+b (out=)": numpy_out,
                                                         "torch eager (out=)": torch_out}
            for name, call in ort_variants(naive, x).items():
                variants[f"ORT naive [N,1] {name}"] = call
            for name, call in ort_variants(flat, x).items():
                variants[f"ORT exported flat {name}"] = call
            for name, call in variants.items():
                median_s, faults = time_calls(call, repeats)
                rows.append({"batch": batch, "variant": name, "median_ms": median_s * 1e3,
                             "minor_faults_per_call": faults})
    floors = {r["batch"]: r["median_ms"] for r in rows if r["variant"].startswith("numpy")}
    for r in rows:
        r["x_numpy"] = r["median_ms"] / floors[r["batch"]]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runtimes.graph_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=positive_int, nargs="+", default=list(DEFAULT_BATCHES))
    parser.add_argument("--repeats", type=positive_int, default=DEFAULT_REPEATS)
    parser.add_argument("--yes", action="store_true", help=YES_HELP)
    args = parser.parse_args(argv)
    check_budget(args.batches, args.repeats, args.yes)
    torch.set_num_threads(1)  # same thread count for every variant
    rows = measure(tuple(args.batches), args.repeats)
    print(f"{'batch':>9}  {'variant':<30} {'median_ms':>10} {'x numpy':>8} {'faults/call':>11}")
    for r in rows:
        print(f"{r['batch']:>9}  {r['variant']:<30} {r['median_ms']:>10.3f} {r['x_numpy']:>8.2f} "
              f"{r['minor_faults_per_call']:>11.0f}")
    print(json.dumps({"threads": 1, "repeats": args.repeats, "gc": GC_POLICY, "rows": rows},
                     separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
