"""The registry of training variants, and what each one declares; the benchmarks of a training epoch.

Training benchmarks: time per epoch of the tutorial's loop, and variants computing the same update.

What one timed call is: ONE training step, linreg.train.train_epoch (forward, L1 loss,
zero_grad, backward, SGD step) on the full batch of N samples. The tutorial's per-epoch
evaluation on the test split is not timed (it is inference, measured separately).

Variants (all L1 loss + SGD, lr 0.01, the tutorial's `parameter` model):
- eager:         the tutorial's loop, autograd and torch.optim.SGD;
- fused:         the same update by hand, no autograd (loops.py fused_update):
                 r = sign(w*x + b - y) / N;  w -= lr * sum(r*x);  b -= lr * sum(r)
                 bit-exact with autograd for L1 + SGD (tested);
- torch_compile: torch.compile of the fused step, compiled afresh per size (torch._dynamo.reset,
                 dynamic=False); compile time in extra["compile_s"], cache cold/warm in
                 extra["compile_cache"];
- cuda_graph:    the fused step captured once in a CUDA graph and replayed (GPU only).
Parity: every variant runs K epochs from the same initial parameters as the eager loop and
its final (weights, bias) are compared with the eager loop's.
Installed packages add variants through the entry-point group `linreg_bench.variants`
(plugins.py); `--variants NAME` selects them (variant_names()), the default set stays the
built-in one, and a broken one only gets skip records.
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from bench.engine.devices import is_cuda
from bench.engine.parity import REORDERED_SUM_ATOL

TRAIN_SIZES = (40, 10**4, 10**6, 10**7)
PARITY_EPOCHS = 10   # K epochs compared against the eager loop's parameters


@dataclass(frozen=True)
class VariantEntry:
    """One training variant: how to build its loop and what the suite, parity and report need."""

    name: str
    factory: str | Callable[..., Any] | None  # "module:callable" taking (X, y, device), imported
                                 # when used, or the callable (plug-ins); None: a broken plug-in
    parity_atol: float | None = None  # None: bit-exact with the eager loop (bench.engine.parity)
    compiled: bool = False       # compiles or captures at each size: that time is reported apart
    inductor: bool = False       # torch.compile: dynamo reset per size, Inductor cache cold/warm noted
    needs_cuda: bool = False     # CUDA graphs: skipped on every other device
    order: int = 100             # display order in reports
    source: str = "built-in"     # or the plug-in's distribution name
    broken: str | None = None    # a plug-in that cannot run: why (its skip reason)

    def make(self, X: Any, y: Any, device: str) -> Any:
        factory = self.factory
        if factory is None:
            raise ValueError(self.broken or f"training variant {self.name!r} has no factory")
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        return factory(X, y, device)


BUILTIN: tuple[VariantEntry, ...] = (
    VariantEntry("eager", "bench.training.loops:EagerLoop", order=0),
    VariantEntry("fused", "bench.training.loops:FusedLoop", order=1),
    VariantEntry("torch_compile", "bench.training.loops:compiled_loop", REORDERED_SUM_ATOL,
                 compiled=True, inductor=True, order=2),
    VariantEntry("cuda_graph", "bench.training.loops:CudaGraphLoop", REORDERED_SUM_ATOL,
                 compiled=True, needs_cuda=True, order=3),
)
VARIANTS: dict[str, VariantEntry] = {e.name: e for e in BUILTIN}  # the built-in ones


@functools.cache
def _registry() -> dict[str, VariantEntry]:
    from bench.training.plugins import PLUGIN_ORDER, discover

    entries = dict(VARIANTS)
    for name, factory, capabilities, source, broken in discover(set(entries)):
        entries[name] = VariantEntry(name, factory, order=PLUGIN_ORDER, source=source, broken=broken,
                                     **capabilities)
    return entries


def reload_plugins() -> None:
    """Look for entry points again (after installing a plug-in into this process's path)."""
    _registry.cache_clear()


def variant_names() -> tuple[str, ...]:
    """Every variant `--variants` accepts: built-in, then plug-ins (broken ones give skip records)."""
    return tuple(_registry())


TRAINING_VARIANTS = tuple(VARIANTS)  # the default set: built-in, as for runtimes (INFERENCE_RUNTIMES)


def variant_entry(name: str) -> VariantEntry:
    entries = _registry()
    if name not in entries:
        raise ValueError(f"unknown training variant {name!r} (choose from {', '.join(entries)})")
    return entries[name]


def make_loop(variant: str, X: Any, y: Any, device: str) -> Any:
    return variant_entry(variant).make(X, y, device)


def variant_skip_reason(variant: str, device: str) -> str | None:
    entry = variant_entry(variant)
    if entry.broken:
        return entry.broken
    if entry.needs_cuda and not is_cuda(device):
        return "CUDA graphs need a CUDA device"
    return None


__all__ = ["BUILTIN", "PARITY_EPOCHS", "TRAINING_VARIANTS", "TRAIN_SIZES", "VARIANTS", "VariantEntry",
           "make_loop", "reload_plugins", "variant_entry", "variant_names", "variant_skip_reason"]
