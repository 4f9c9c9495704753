"""Inference runtimes: one small class per runtime, heavy imports inside `load`, one registry.

Every runtime is loaded from the artifacts of one export folder (or the checkpoint itself for
eager and torch.compile), bound to one preallocated input per batch size, checked against the
state_dict model on the CPU, then timed. Grad mode: `eager` times under torch.no_grad() (the
tutorial's evaluation without inference_mode), `inference_mode` under torch.inference_mode();
the artifact runtimes and torch.compile run under no_grad as well.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

import numpy as np

from bench.floors import with_efficiency
from bench.measurement import Measurement, Spec
from bench.stats import check_parity
from bench.timing import BlockTimer, TimingConfig, measure, skipped, torch_timer



def parity_ulps(runtime: str, device: str) -> int:
    """Allowed ULP distance from the state_dict model: y = w*x + b is one multiply and one add.

    Every runtime rounds both steps alike on the CPU, so bit-exact is expected (and measured).
    Code generators may contract them into one FMA (one rounding fewer): torch.compile's Inductor
    and every CUDA kernel get 1 ULP.
    """
    return 1 if runtime == "torch_compile" or not device.startswith("cpu") else 0
INFERENCE_RUNTIMES = ("eager", "inference_mode", "torchscript", "exported_program",
                      "onnxruntime", "torch_compile")
INFERENCE_SIZES = (1, 10, 10**3, 10**5, 10**6, 10**7)


@dataclass(frozen=True)
class Artifacts:
    """Where a runtime loads from: the state_dict checkpoint and the export folder's files."""

    checkpoint: Path
    paths: dict[str, Path] = field(default_factory=dict)  # manifest format -> artifact file

    @classmethod
    def from_export_dir(cls, export_dir: Path, checkpoint: Path | None = None) -> "Artifacts":
        from export.loaders import read_manifest
        from export.manifest import resolve_checkpoint, resolve_inside

        manifest = read_manifest(export_dir)
        paths = {e["format"]: resolve_inside(export_dir, e["path"]) for e in manifest["artifacts"]}
        source = checkpoint or resolve_checkpoint(export_dir, manifest["source_checkpoint"]["path"])
        return cls(Path(source), paths)

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "paths": {k: str(v) for k, v in self.paths.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Artifacts":
        return cls(Path(d["checkpoint"]), {k: Path(v) for k, v in d.get("paths", {}).items()})


@dataclass
class Bound:
    """One runtime bound to one input: the call to time, and how to read and sync its output."""

    call: Callable[[], Any]
    output: Callable[[], Any]                     # the last call's output (any device)
    sync: Callable[[], None] | None = None
    context: Callable[[], ContextManager[Any]] = contextlib.nullcontext
    block: BlockTimer | None = None               # torch_timer for torch runtimes
    extra: dict[str, Any] = field(default_factory=dict)


class Runtime(Protocol):
    name: str

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None: ...
    def bind(self, x: Any) -> Bound: ...


def device_sync(device: str) -> Callable[[], None] | None:
    """The wait-for-the-device hook of `device` (None on the CPU): cuda and mps queue work."""
    import torch

    if device.startswith("cuda"):
        return lambda: torch.cuda.synchronize(device)  # a CPU-GPU sync point, once per block
    if device.startswith("mps"):
        return torch.mps.synchronize
    return None


def device_context(device: str) -> ContextManager[Any]:
    """Makes a cuda:N device the current one (streams, graphs, timing); a no-op elsewhere."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.device(device)
    return contextlib.nullcontext()


def compile_cache_state() -> dict[str, int]:
    """Inductor's FX-graph cache hits and misses so far in this process (for cold/warm notes)."""
    try:
        from torch._dynamo.utils import counters

        return {"hit": int(counters["inductor"]["fxgraph_cache_hit"]),
                "miss": int(counters["inductor"]["fxgraph_cache_miss"])}
    except Exception:  # a torch without the counters: the note just says "unknown"
        return {"hit": 0, "miss": 0}


def compile_cache_note(before: dict[str, int], after: dict[str, int]) -> str:
    """"cold" (some graph compiled from scratch), "warm" (all from the cache) or "unknown"."""
    if after["miss"] > before["miss"]:
        return "cold"
    if after["hit"] > before["hit"]:
        return "warm"
    return "unknown"


class TorchModuleRuntime:
    """eager, inference_mode, torchscript, exported_program: a torch callable on a torch tensor."""

    def __init__(self, name: str, source: str, grad_mode: str = "no_grad") -> None:
        self.name, self.source, self.grad_mode = name, source, grad_mode

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None:
        import torch

        self.device, self.threads = device, threads
        if self.source == "checkpoint":
            from linreg.checkpoint import load_model

            self.module = load_model(artifacts.checkpoint, device)[1]
        else:
            from export import loaders

            path = _artifact(artifacts, self.source)
            loader = {"torchscript": loaders.load_torchscript,
                      "exported_program": loaders.load_exported_program}[self.source]
            self.module = loader(path, device)
        self._ctx = torch.inference_mode if self.grad_mode == "inference_mode" else torch.no_grad

    def bind(self, x: Any) -> Bound:
        xd = x.to(self.device)
        module = self.module
        last: list[Any] = [None]

        def output() -> Any:
            with self._ctx():
                last[0] = module(xd)
            return last[0]

        sync = device_sync(self.device)
        return Bound(call=lambda: module(xd), output=output, sync=sync, context=self._ctx,
                     block=torch_timer(lambda: module(xd), self.threads, sync))


class CompileRuntime(TorchModuleRuntime):
    """torch.compile of the state_dict model, compiled afresh for every batch size.

    Each size starts from torch._dynamo.reset() and compiles with dynamic=False: its own
    static-shape kernels and its own compile time, whatever sizes ran before (otherwise a later
    size reuses an earlier dynamic-shape graph and reports ~0 s). extra["compile_cache"] says
    whether Inductor's on-disk cache served it ("warm") or it compiled from scratch ("cold").
    """

    def __init__(self) -> None:
        super().__init__("torch_compile", "checkpoint")

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None:
        from export.quiet import quiet

        super().load(artifacts, device, threads)
        self.eager_module = self.module
        with quiet():  # importing inductor touches torch.jit: DeprecationWarnings in 2.13
            import torch._inductor  # noqa: F401

    def bind(self, x: Any) -> Bound:
        import torch

        xd = x.to(self.device)
        sync = device_sync(self.device)
        torch._dynamo.reset()  # nothing compiled for an earlier size is reused
        cache_before = compile_cache_state()
        start = time.perf_counter()
        with torch.no_grad(), warnings.catch_warnings():  # inductor touches torch.jit (deprecated)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            self.module = torch.compile(self.eager_module, dynamic=False)
            self.module(xd)  # compiles: cold ~20 s, cache-warm ~2 s
        if sync:
            sync()
        compile_s = time.perf_counter() - start
        bound = super().bind(x)
        bound.extra["compile_s"] = compile_s
        bound.extra["compile_cache"] = compile_cache_note(cache_before, compile_cache_state())
        return bound


class OrtRuntime:
    """ONNX Runtime through io_binding: input bound once, output preallocated, no copies per call.

    On CUDA the input and output live on the GPU (OrtValues) and `sync` is the binding's
    synchronize_outputs, so timing never stops before the device has finished.
    """

    name = "onnxruntime"

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None:
        from export.loaders import make_ort_session

        self.device = device
        self.session = make_ort_session(_artifact(artifacts, "onnx"), device, threads)
        self.provider = self.session.get_providers()[0]

    def bind(self, x: Any) -> Bound:
        import onnxruntime as ort

        xn = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        binding = self.session.io_binding()
        in_name = self.session.get_inputs()[0].name
        out_name = self.session.get_outputs()[0].name
        if self.device.startswith("cuda"):
            index = int(self.device.partition(":")[2] or 0)
            x_ov = ort.OrtValue.ortvalue_from_numpy(xn, "cuda", index)
            y_ov = ort.OrtValue.ortvalue_from_shape_and_type(list(xn.shape), np.float32, "cuda", index)
            sync: Callable[[], None] | None = binding.synchronize_outputs
        else:
            x_ov = ort.OrtValue.ortvalue_from_numpy(xn)
            y_ov = ort.OrtValue.ortvalue_from_numpy(np.empty_like(xn))
            sync = None
        binding.bind_ortvalue_input(in_name, x_ov)
        binding.bind_ortvalue_output(out_name, y_ov)
        session = self.session

        def call() -> None:
            session.run_with_iobinding(binding)

        def output() -> Any:
            call()
            if sync:
                sync()
            # numpy() reads host memory only; a CUDA output is copied back by the binding
            return binding.copy_outputs_to_cpu()[0] if sync else y_ov.numpy()

        bound = Bound(call=call, output=output, sync=sync, extra={"provider": self.provider})
        bound.extra["_keep"] = (x_ov, y_ov, xn)  # OrtValues must outlive the binding
        return bound


def _artifact(artifacts: Artifacts, fmt: str) -> Path:
    from export.errors import ArtifactError

    if fmt not in artifacts.paths:
        raise ArtifactError(f"no {fmt} artifact in the export folder")
    return artifacts.paths[fmt]


def make_runtime(name: str) -> Runtime:
    """A fresh, unloaded runtime by name."""
    factories: dict[str, Callable[[], Runtime]] = {
        "eager": lambda: TorchModuleRuntime("eager", "checkpoint", "no_grad"),
        "inference_mode": lambda: TorchModuleRuntime("inference_mode", "checkpoint", "inference_mode"),
        "torchscript": lambda: TorchModuleRuntime("torchscript", "torchscript"),
        "exported_program": lambda: TorchModuleRuntime("exported_program", "exported_program"),
        "onnxruntime": OrtRuntime,
        "torch_compile": CompileRuntime,
    }
    if name not in factories:
        raise ValueError(f"unknown runtime {name!r} (choose from {', '.join(factories)})")
    return factories[name]()


def device_skip_reason(device: str) -> str | None:
    """Why `device` cannot run here (e.g. "cuda: no CUDA device"), or None when it can."""
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return "cuda: no CUDA device"
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return f"{device}: torch sees {torch.cuda.device_count()} CUDA device(s)"
        return None
    if device == "mps":
        backend = getattr(torch.backends, "mps", None)
        return None if backend and backend.is_available() else "mps: not available"
    if device == "cpu":
        return None
    return f"{device}: unknown device"


def make_input(batch: int) -> Any:
    """The benchmark input: `batch` evenly spaced float32 points on [0, 1], as a [batch, 1] column."""
    import torch

    return torch.linspace(0.0, 1.0, batch, dtype=torch.float32).unsqueeze(1)


def measure_inference(
    runtime_name: str,
    device: str,
    sizes: tuple[int, ...] | list[int],
    artifacts: Artifacts,
    threads: int,
    timing: TimingConfig = TimingConfig(),
    skip_reason: str | None = None,
    bandwidth_bytes_per_s: float | None = None,
    on_done: Callable[[Measurement], None] | None = None,
) -> list[Measurement]:
    """Load, check parity, then time one runtime at every size; absent things become skip records."""
    import torch

    from linreg.checkpoint import load_model
    from linreg.errors import LinregError

    specs = [Spec("inference", runtime_name, device, b) for b in sizes]
    reason = skip_reason or device_skip_reason(device)
    runtime = make_runtime(runtime_name)
    if reason is None:
        try:
            torch.set_num_threads(threads)
            runtime.load(artifacts, device, threads)
        except LinregError as exc:  # RuntimeUnavailableError (no CUDA EP, ...), ArtifactError
            reason = str(exc)
    if reason is not None:
        out = [skipped(s, reason) for s in specs]
        for m in out:
            on_done and on_done(m)
        return out

    reference_model = load_model(artifacts.checkpoint, "cpu")[1]
    results: list[Measurement] = []
    for spec in specs:
        x = make_input(spec.batch_size)
        with torch.no_grad():
            reference = reference_model(x)
        bound = runtime.bind(x)
        parity = check_parity(reference, bound.output(), ulps=parity_ulps(runtime_name, device))
        del reference
        extra = {k: v for k, v in bound.extra.items() if not k.startswith("_")}
        extra["threads"] = threads
        with bound.context(), device_context(device):
            m = measure(bound.call, spec, timing, sync=bound.sync, block=bound.block,
                        parity=parity, extra=extra)
        m = with_efficiency(m, bandwidth_bytes_per_s)
        results.append(m)
        if on_done:
            on_done(m)
        del bound
    return results


def probe_ort_interference(artifacts: Artifacts, threads: int, batch: int = 100_000,
                           calls: int = 300) -> dict[str, Any]:
    """Does an ORT run slow the next eager torch call in the same process? Timed four ways.

    Each of `calls` rounds optionally runs something once (untimed), then times ONE eager torch
    call right after it. Cases: torch alone; after an ORT run with ORT's defaults (spinning
    allowed); after an ORT run with session.intra_op.allow_spinning=0; after the same arithmetic
    in numpy (a control: same memory traffic, no ORT). ORT and torch both use `threads` intra-op
    threads. Returns median seconds per torch call for each case and the ratios to torch alone.
    It measures THAT torch slows down, not why: the cause is not established by this probe
    (turning spinning off did not remove the slowdown where it was measured).
    """
    import statistics

    import onnxruntime as ort
    import torch

    from linreg.checkpoint import load_model

    torch.set_num_threads(threads)
    model = load_model(artifacts.checkpoint, "cpu")[1]
    x = make_input(batch)
    xn = np.ascontiguousarray(x.numpy())

    def session(spin: bool) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        return ort.InferenceSession(str(_artifact(artifacts, "onnx")), options,
                                    providers=["CPUExecutionProvider"])

    def run(before: Callable[[], Any] | None) -> float:
        times = []
        with torch.no_grad():
            for _ in range(20):  # warm
                model(x)
            for _ in range(calls):
                if before is not None:
                    before()
                start = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    spinning, quiet = session(True), session(False)
    feed = {spinning.get_inputs()[0].name: xn}
    buf = np.empty_like(xn)

    def numpy_line() -> None:  # the same memory traffic as the ORT run, without a thread pool
        np.multiply(xn, np.float32(0.5), out=buf)
        np.add(buf, np.float32(0.25), out=buf)

    alone_s = run(None)
    after_numpy_s = run(numpy_line)
    after_spin_s = run(lambda: spinning.run(None, feed))
    after_quiet_s = run(lambda: quiet.run(None, feed))
    alone_again_s = run(None)
    return {
        "batch": batch, "threads": threads, "calls": calls,
        "torch_alone_s": min(alone_s, alone_again_s),
        "torch_after_ort_spinning_s": after_spin_s,
        "torch_after_ort_no_spin_s": after_quiet_s,
        "torch_after_numpy_s": after_numpy_s,
        "slowdown_spinning": after_spin_s / min(alone_s, alone_again_s),
        "slowdown_no_spin": after_quiet_s / min(alone_s, alone_again_s),
        "slowdown_numpy_control": after_numpy_s / min(alone_s, alone_again_s),
    }
