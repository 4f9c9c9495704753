"""The worker side of `compare --rev`: a driver that times workloads of ONE source tree.

Why a separate, stdlib-only copy of a timing loop: the driver runs against old revisions, which
may have no `bench` at all (or an older one with other names). The orchestrator
(bench/compare/interleave.py) copies this file into a temporary folder and runs it with
PYTHONPATH set to the tree it measures; it imports only the standard library at the top, then
torch/numpy/linreg/export of that tree. So it cannot use bench.engine.timing, and keeps its own
small loop (`_time_chunk`) under the same rules: chunks calibrated to >= 1 ms, warmed first,
the garbage collector off inside each timed chunk (bench.engine.timing's GC policy).

Protocol: JSON lines. stdin: {"cmd": "setup", "workloads": [...], "warmup_s", "work_dir"},
{"cmd": "measure", "workload", "block_s"}, {"cmd": "quit"}; stdout: one reply per request.

Testing hook (never product code): LINREG_INTERLEAVE_INJECT_SLOWDOWN=0.10 makes the worker that
has it spin for 10% longer after each timed chunk, inside the timed region. The orchestrator
sets it on the candidate only, when asked (tests/benchmarks/measure_fpr.py uses it).
"""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

INJECT_ENV = "LINREG_INTERLEAVE_INJECT_SLOWDOWN"
# "cpu": time chunks by this thread's CPU time, not the wall clock. On a machine whose cores other
# (higher-priority) jobs hold, a worker waits for a core for much of a block and wall times read
# 0.6-2x at random; the thread's CPU time leaves out the waiting. One intra-op thread: the work
# is this thread's. Wall time ("wall", the default) is what users feel: the gate's own choice.
CLOCK_ENV = "LINREG_INTERLEAVE_CLOCK"
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock = time.perf_counter  # the worker's, set from CLOCK_ENV at its start
# Big-array workloads otherwise measure the allocator (page faults), differently per process.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456"}

# name -> (phase, runtime, device, batch_size): the fixed set from the issue.
WORKLOADS: dict[str, tuple[str, str, str, int]] = {
    "train_eager_40": ("train_epoch", "eager", "cpu", 40),
    "train_eager_1e6": ("train_epoch", "eager", "cpu", 1_000_000),
    "infer_eager_1": ("inference", "eager", "cpu", 1),
    "infer_eager_1e6": ("inference", "eager", "cpu", 1_000_000),
    "infer_ort_1": ("inference", "onnxruntime", "cpu", 1),
}


def _strip_editable_finders() -> None:
    """Drop setuptools' editable-install finders so `linreg` comes from PYTHONPATH's tree only."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)
                        and "_EditableFinder" not in type(f).__name__
                        and "editable" not in getattr(f, "__module__", "")]


def _training_workload(model: Any, batch: int) -> Any:
    import torch
    from linreg import data as ldata

    if batch == 40:
        X, y = ldata.make_linear_data()
        X, y = X[:40], y[:40]
    elif hasattr(ldata, "make_linear_samples"):
        X, y = ldata.make_linear_samples(batch)
    else:
        X = torch.arange(batch, dtype=torch.float32).unsqueeze(1) / batch
        y = 0.7 * X + 0.3
    loss_fn = torch.nn.L1Loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    try:
        from linreg.train import train_epoch
    except ImportError:
        def train_epoch(model, loss_fn, optimizer, X, y):  # type: ignore[no-redef]
            model.train()
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss
    return lambda: train_epoch(model, loss_fn, optimizer, X, y)


def _export_all(tree: Path) -> Any:
    """The tree's export_all and make_ort_session, wherever its revision keeps them."""
    try:
        from export import loaders
    except ImportError as exc:
        raise LookupError(f"this tree has no export loaders ({exc})") from None
    if not str(Path(loaders.__file__).resolve()).startswith(str(tree.resolve()) + os.sep):
        raise LookupError("export.loaders comes from another tree")
    export_all = getattr(loaders, "export_all", None)  # older revisions re-exported it here
    if export_all is None:
        try:
            from export.exporters import export_all
        except ImportError:
            export_all = None
    if export_all is None or not hasattr(loaders, "make_ort_session"):
        raise LookupError("this tree's export has no export_all/make_ort_session")
    return export_all, loaders.make_ort_session


def _ort_workload(model: Any, x: Any, tree: Path, work_dir: Path) -> Any:
    export_all, make_ort_session = _export_all(tree)
    from linreg.checkpoint import save_checkpoint

    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt = work_dir / "model.pth"
    save_checkpoint(model, ckpt)
    try:
        manifest = export_all(ckpt, work_dir / "export", verify=False)
    except TypeError:
        manifest = export_all(ckpt, work_dir / "export")
    onnx_path = next(work_dir / "export" / a["path"] for a in manifest["artifacts"]
                     if a["format"] == "onnx")
    session = make_ort_session(onnx_path, "cpu", 1)
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def _build_workload(name: str, tree: Path, work_dir: Path) -> Any:
    """A zero-argument callable for one workload, built from the tree's own linreg/export."""
    import torch
    from linreg import models

    phase, runtime, _device, batch = WORKLOADS[name]
    torch.manual_seed(42)
    model = models.LinearRegressionModel()
    if phase == "train_epoch":
        return _training_workload(model, batch)
    x = torch.linspace(0.0, 1.0, batch, dtype=torch.float32).unsqueeze(1)
    if runtime == "eager":
        model.eval()

        def infer() -> Any:
            with torch.no_grad():
                return model(x)
        return infer
    if runtime == "onnxruntime":
        return _ort_workload(model, x, tree, work_dir)
    raise LookupError(f"no driver for runtime {runtime!r}")


def _time_chunk(fn: Any, calls: int, inject: float) -> float:
    """Seconds for `calls` calls, GC off; with `inject`, spin inside the timed region (testing hook)."""
    perf = _clock
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        t0 = perf()
        for _ in range(calls):
            fn()
        t1 = perf()
        if inject:
            target = t0 + (t1 - t0) * (1.0 + inject)
            while perf() < target:
                pass
            t1 = perf()
    finally:
        if gc_was_on:
            gc.enable()
    return t1 - t0


def _first_line(exc: BaseException, default: str) -> str:
    return (str(exc).strip().splitlines() or [default])[0][:200]


def _setup(req: dict[str, Any], tree: Path, fns: dict[str, Any], calls: dict[str, int]) -> dict[str, Any]:
    skipped: dict[str, str] = {}
    for name in req["workloads"]:
        try:
            fn = _build_workload(name, tree, Path(req["work_dir"]) / name)
            fn()
        except LookupError as exc:  # this tree lacks what the workload needs: absent
            skipped[name] = _first_line(exc, "not available")
            continue
        except Exception as exc:  # noqa: BLE001 - a crash: the orchestrator fails it
            skipped[name] = f"failed: {type(exc).__name__}: {_first_line(exc, type(exc).__name__)}"
            continue
        # Calibrate chunks to >= 1 ms so perf_counter's ~50 ns is noise, then warm up.
        n = 1
        while _time_chunk(fn, n, 0.0) < 1e-3 and n < 1 << 20:
            n *= 2
        end = time.perf_counter() + req["warmup_s"]
        while time.perf_counter() < end:
            _time_chunk(fn, n, 0.0)
        fns[name], calls[name] = fn, n
    return {"skipped": skipped, "calls_per_chunk": calls, "environment": _environment()}


def _environment() -> dict[str, Any]:
    import platform

    import linreg
    import torch

    versions: dict[str, Any] = {"torch": torch.__version__}
    for mod in ("numpy", "onnxruntime", "onnx"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = None
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), cpu)
    return {"cpu_model": cpu, "cpu_count": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "versions": {**versions, "python": platform.python_version()},
            "threads": {"torch": torch.get_num_threads()},
            "allocator": {k: os.environ.get(k) for k in sorted(ALLOCATOR_ENV)},
            "linreg_file": str(Path(linreg.__file__).resolve())}


def _measure(fn: Any, n: int, block_s: float, inject: float) -> dict[str, Any]:
    import resource

    per_call: list[float] = []
    flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    end = time.perf_counter() + block_s
    while True:
        per_call.append(_time_chunk(fn, n, inject) / n)
        if time.perf_counter() >= end and len(per_call) >= 3:
            break
    flt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0
    per_call.sort()
    mid = len(per_call) // 2
    median = per_call[mid] if len(per_call) % 2 else (per_call[mid - 1] + per_call[mid]) / 2
    # p10: the block's fastest tenth of chunks. Time lost to other jobs (waiting for a core,
    # refilling caches after them) only ever adds, so the fast chunks are the code's own cost.
    return {"time_s_per_call": median, "time_s_per_call_p10": per_call[len(per_call) // 10],
            "chunks": len(per_call), "minor_faults_per_call": flt / (len(per_call) * n)}


def _worker_main(argv: list[str]) -> int:
    tree, threads = Path(argv[1]), int(argv[2])
    _strip_editable_finders()
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    import torch

    torch.set_num_threads(threads)
    import linreg

    linreg_file = str(Path(linreg.__file__).resolve())
    inject = float(os.environ.get(INJECT_ENV, "0") or 0)
    global _clock
    _clock = CLOCKS[os.environ.get(CLOCK_ENV) or "wall"]
    fns: dict[str, Any] = {}
    calls: dict[str, int] = {}
    # The protocol owns the real stdout; anything else printed (an exporter's progress lines, C
    # libraries) goes to stderr, which the orchestrator logs.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "quit":
                return 0
            if req["cmd"] == "setup":
                if not linreg_file.startswith(str(tree.resolve()) + os.sep):
                    raise RuntimeError(f"linreg imported from {linreg_file}, not from {tree}")
                reply = _setup(req, tree, fns, calls)
            elif req["cmd"] == "measure":
                reply = _measure(fns[req["workload"]], calls[req["workload"]], req["block_s"], inject)
            else:
                reply = {"error": f"unknown command {req['cmd']!r}"}
        except Exception as exc:  # noqa: BLE001 - the orchestrator turns it into one error line
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv))
