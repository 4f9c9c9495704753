"""Training benchmarks: time per epoch of the tutorial's loop, and variants computing the same update.

What one timed call is: ONE training step, linreg.train.train_epoch (forward, L1 loss,
zero_grad, backward, SGD step) on the full batch of N samples. The tutorial's per-epoch
evaluation on the test split is not timed (it is inference, measured separately).

Variants (all L1 loss + SGD, lr 0.01, the tutorial's `parameter` model):
- eager:         the tutorial's loop, autograd and torch.optim.SGD;
- fused:         the same update by hand, no autograd (METHOD.md):
                 r = sign(w*x + b - y) / N;  w -= lr * sum(r*x);  b -= lr * sum(r)
                 bit-exact with autograd for L1 + SGD (tested);
- torch_compile: torch.compile of the fused step, compiled afresh per size (torch._dynamo.reset,
                 dynamic=False); compile time in extra["compile_s"], cache cold/warm in
                 extra["compile_cache"];
- cuda_graph:    the fused step captured once in a CUDA graph and replayed (GPU only).
Parity: every variant runs K epochs from the same initial parameters as the eager loop and
its final (weights, bias) are compared with the eager loop's.
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable

from bench.floors import with_efficiency
from bench.measurement import Measurement, Spec
from bench.runtimes import (compile_cache_note, compile_cache_state, device_context,
                            device_skip_reason, device_sync)
from bench.stats import check_parity
from bench.timing import TimingConfig, measure, skipped, torch_timer

TRAINING_VARIANTS = ("eager", "fused", "torch_compile", "cuda_graph")
TRAIN_SIZES = (40, 10**4, 10**6, 10**7)
TUTORIAL_N = 40      # the tutorial's train split: 40 of arange(0, 1, 0.02)
LR = 0.01            # the tutorial's SGD learning rate
PARITY_EPOCHS = 10   # K epochs compared against the eager loop's parameters
# Bit-exact where the arithmetic is the same; compiled and graph code may reorder a reduction.
# At N = 10^6 the compiled sum differs by ~1e-5 after 10 epochs (hundreds of ULP): a different
# float32 summation order, not a different update.
PARITY_ATOL = {"fused": None, "torch_compile": 1e-4, "cuda_graph": 1e-4}


def make_train_data(n: int, device: str) -> tuple[Any, Any]:
    """(X, y) of N training samples: the tutorial's 40-point split at N=40, else N even points."""
    from linreg.data import make_linear_data, make_linear_samples, split_train_test

    if n == TUTORIAL_N:
        X, y, _, _ = split_train_test(*make_linear_data())
    else:
        X, y = make_linear_samples(n)
    return X.to(device), y.to(device)


def initial_parameters(seed: int = 42) -> tuple[Any, Any]:
    """The tutorial model's initial (weights, bias), shape [1] each, from its seed."""
    import torch

    from linreg.models import LinearRegressionModel

    torch.manual_seed(seed)
    model = LinearRegressionModel()
    return model.weights.detach().clone(), model.bias.detach().clone()


class EagerLoop:
    """The tutorial's loop, as linreg.train runs it."""

    def __init__(self, X: Any, y: Any, device: str) -> None:
        import torch
        from torch import nn

        from linreg.models import LinearRegressionModel
        from linreg.train import train_epoch

        w, b = initial_parameters()
        self.model = LinearRegressionModel().to(device)
        with torch.no_grad():
            self.model.weights.copy_(w)
            self.model.bias.copy_(b)
        self.loss_fn = nn.L1Loss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.X, self.y = X, y
        self._train_epoch = train_epoch  # imported once here, not inside the timed step

    def step(self) -> None:
        self._train_epoch(self.model, self.loss_fn, self.optimizer, self.X, self.y)

    def parameters(self) -> tuple[Any, Any]:
        return self.model.weights.detach(), self.model.bias.detach()


def fused_update(w: Any, b: Any, x: Any, y: Any, lr: float = LR) -> None:
    """One L1 + SGD step without autograd, in place; the same float32 operations autograd runs."""
    import torch

    r = torch.sign(w * x + b - y) / x.shape[0]   # d(mean |pred - y|) / d pred
    w.add_((r * x).sum().reshape(w.shape), alpha=-lr)  # SGD: p += -lr * grad, as torch.optim does
    b.add_(r.sum().reshape(b.shape), alpha=-lr)


class FusedLoop:
    """The fused step on preallocated parameters; `compiled` wraps it in torch.compile."""

    def __init__(self, X: Any, y: Any, device: str, compiled: bool = False) -> None:
        import torch

        w, b = initial_parameters()
        self.w, self.b = w.to(device), b.to(device)
        self.X, self.y = X, y
        self.fn: Callable[..., None] = torch.compile(fused_update, dynamic=False) if compiled else fused_update

    def step(self) -> None:
        self.fn(self.w, self.b, self.X, self.y)

    def parameters(self) -> tuple[Any, Any]:
        return self.w, self.b


class CudaGraphLoop(FusedLoop):
    """The fused step captured in a CUDA graph; each step is one graph replay."""

    def __init__(self, X: Any, y: Any, device: str) -> None:
        with device_context(device):  # cuda:N: the side stream and the graph live on N
            self._capture(X, y, device)

    def _capture(self, X: Any, y: Any, device: str) -> None:
        import torch

        super().__init__(X, y, device)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        w0, b0 = self.w.clone(), self.b.clone()
        with torch.cuda.stream(stream):  # warm up on a side stream, as the CUDA graphs docs ask
            for _ in range(3):
                fused_update(self.w, self.b, self.X, self.y)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            fused_update(self.w, self.b, self.X, self.y)
        self.w.copy_(w0)  # capture does not run the step, but the warmups did: start over
        self.b.copy_(b0)

    def step(self) -> None:
        self.graph.replay()


def make_loop(variant: str, X: Any, y: Any, device: str) -> Any:
    if variant == "eager":
        return EagerLoop(X, y, device)
    if variant == "fused":
        return FusedLoop(X, y, device)
    if variant == "torch_compile":
        return FusedLoop(X, y, device, compiled=True)
    if variant == "cuda_graph":
        return CudaGraphLoop(X, y, device)
    raise ValueError(f"unknown training variant {variant!r} (choose from {', '.join(TRAINING_VARIANTS)})")


def run_epochs(variant: str, n: int, device: str, epochs: int) -> tuple[Any, Any]:
    """Final (weights, bias) on the CPU after `epochs` steps from the tutorial's initial values."""
    with device_context(device):
        X, y = make_train_data(n, device)
        loop = make_loop(variant, X, y, device)
        for _ in range(epochs):
            loop.step()
        w, b = loop.parameters()
    return w.detach().cpu().clone(), b.detach().cpu().clone()


def variant_skip_reason(variant: str, device: str) -> str | None:
    if variant == "cuda_graph" and not device.startswith("cuda"):
        return "CUDA graphs need a CUDA device"
    return None


def measure_training(
    variant: str,
    device: str,
    sizes: tuple[int, ...] | list[int],
    threads: int,
    timing: TimingConfig = TimingConfig(),
    parity_epochs: int = PARITY_EPOCHS,
    skip_reason: str | None = None,
    bandwidth_bytes_per_s: float | None = None,
    on_done: Callable[[Measurement], None] | None = None,
) -> list[Measurement]:
    """Per size: parity of K epochs against the eager loop, then time one epoch (one step)."""
    import torch

    torch.set_num_threads(threads)
    specs = [Spec("train_epoch", variant, device, n) for n in sizes]
    reason = skip_reason or device_skip_reason(device) or variant_skip_reason(variant, device)
    if reason is not None:
        out = [skipped(s, reason) for s in specs]
        for m in out:
            on_done and on_done(m)
        return out

    sync = device_sync(device)  # cuda / mps: the block waits for the device
    results: list[Measurement] = []
    for spec in specs:
        n = spec.batch_size
        X, y = make_train_data(n, device)
        extra: dict[str, Any] = {"threads": threads, "timed": "train_epoch (one full-batch step)"}
        if variant == "torch_compile":
            torch._dynamo.reset()  # this size compiles its own static-shape graph, timed below
        cache_before = compile_cache_state()
        start = time.perf_counter()
        with warnings.catch_warnings(), device_context(device):  # inductor touches torch.jit
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            loop = make_loop(variant, X, y, device)
            loop.step()  # the first step at a size compiles (torch_compile) or captures (cuda_graph)
        if sync:
            sync()
        if variant in ("torch_compile", "cuda_graph"):
            extra["compile_s"] = time.perf_counter() - start
        if variant == "torch_compile":
            extra["compile_cache"] = compile_cache_note(cache_before, compile_cache_state())
        parity = None
        if variant != "eager" and parity_epochs > 0:
            ref = torch.cat(run_epochs("eager", n, device, parity_epochs))
            cand = torch.cat(run_epochs(variant, n, device, parity_epochs))
            parity = check_parity(ref, cand, PARITY_ATOL.get(variant, 1e-4),
                                  reference_name=f"eager loop's parameters after {parity_epochs} epochs")
        with device_context(device):
            m = measure(loop.step, spec, timing, sync=sync,
                        block=torch_timer(loop.step, threads, sync), parity=parity, extra=extra)
        m = with_efficiency(m, bandwidth_bytes_per_s)
        results.append(m)
        if on_done:
            on_done(m)
        del loop, X, y
    return results
