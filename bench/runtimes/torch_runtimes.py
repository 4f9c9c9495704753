"""torch runtimes: eager, inference_mode, torchscript, exported_program, and torch.compile.

Grad mode: `eager` times under torch.no_grad() (the tutorial's evaluation without
inference_mode), `inference_mode` under torch.inference_mode(); the artifact runtimes and
torch.compile run under no_grad as well.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

from bench.engine.devices import compile_cache_note, compile_cache_state, device_sync
from bench.engine.tub_timer import torch_timer
from bench.runtimes.base import Artifacts, Bound, artifact_path


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

            path = artifact_path(artifacts, self.source)
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
        self.compiled_shape: tuple[int, ...] | None = None  # the size self.module was compiled for

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
        if self.compiled_shape == tuple(xd.shape):
            return super().bind(x)  # a later round of this size: the same code, a fresh input
        self.compiled_shape = tuple(xd.shape)
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


def eager() -> TorchModuleRuntime:
    return TorchModuleRuntime("eager", "checkpoint", "no_grad")


def inference_mode() -> TorchModuleRuntime:
    return TorchModuleRuntime("inference_mode", "checkpoint", "inference_mode")


def torchscript() -> TorchModuleRuntime:
    return TorchModuleRuntime("torchscript", "torchscript")


def exported_program() -> TorchModuleRuntime:
    return TorchModuleRuntime("exported_program", "exported_program")
