"""The registry of inference runtimes: one entry per runtime, declaring what it needs and can do.

A new built-in runtime is one module with a class keeping bench.runtimes.base.Runtime, plus one
RuntimeEntry line in BUILTIN. Nothing else lists runtime names: the CLI's choices, the suite's
plan, parity tolerances and the report's display order all read these entries. Installed
packages add runtimes through the entry-point group `linreg_bench.runtimes` (plugins.py).
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from bench.engine.parity import inference_ulps
from bench.runtimes.plugins import PLUGIN_ORDER, BrokenPlugin, discover


@dataclass(frozen=True)
class RuntimeEntry:
    """What the suite, parity and the report need to know about one runtime."""

    name: str
    factory: str | Callable[[], Any]  # "module:callable" (imported when used) or a callable
    artifact: str = "checkpoint"      # what it loads: checkpoint | torchscript | onnx | exported_program
    compiled: bool = False            # generates code: compile time reported, FMA contraction allowed
    needs_cuda: bool = False          # measured on CUDA devices only
    order: int = 100                  # display order in reports (lower first)
    source: str = "built-in"          # or the plug-in's distribution name
    reference: str = "dispatch"       # its small calls' reference workload (bench.engine.reference)

    def parity_ulps(self, device: str) -> int:
        """Allowed ULP distance from the state_dict model on `device` (bench.engine.parity rules)."""
        return inference_ulps(self.compiled, device)

    def make(self) -> Any:
        """A fresh, unloaded runtime."""
        factory = self.factory
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        return factory()


BUILTIN: tuple[RuntimeEntry, ...] = (
    RuntimeEntry("eager", "bench.runtimes.torch_runtimes:eager", order=0),
    RuntimeEntry("inference_mode", "bench.runtimes.torch_runtimes:inference_mode", order=1),
    RuntimeEntry("torchscript", "bench.runtimes.torch_runtimes:torchscript", "torchscript", order=2),
    RuntimeEntry("exported_program", "bench.runtimes.torch_runtimes:exported_program",
                 "exported_program", order=3),
    RuntimeEntry("onnxruntime", "bench.runtimes.ort:OrtRuntime", "onnx", order=4, reference="ort"),
    RuntimeEntry("torch_compile", "bench.runtimes.torch_runtimes:CompileRuntime", compiled=True, order=5),
)


@functools.cache
def _registry() -> tuple[dict[str, RuntimeEntry], dict[str, BrokenPlugin]]:
    entries = {e.name: e for e in BUILTIN}
    working, broken = discover(set(entries))
    for name, factory, capabilities, source in working:
        entries[name] = RuntimeEntry(name, factory, order=PLUGIN_ORDER, source=source, **capabilities)
    return entries, {b.name: b for b in broken}


def reload_plugins() -> None:
    """Look for entry points again (after installing a plug-in into this process's path)."""
    _registry.cache_clear()


def registry() -> dict[str, RuntimeEntry]:
    """{name: entry} of every runtime: the built-in ones, then working plug-ins."""
    return dict(_registry()[0])


def broken_plugins() -> dict[str, BrokenPlugin]:
    """{name: why} of the plug-ins that failed to import or break the contract."""
    return dict(_registry()[1])


def runtime_names() -> tuple[str, ...]:
    """Every runtime `--runtimes` accepts: built-in, plug-in, and broken plug-ins (skip records)."""
    return tuple(registry()) + tuple(broken_plugins())


def runtime_entry(name: str) -> RuntimeEntry:
    entries = registry()
    if name not in entries:
        raise ValueError(f"unknown runtime {name!r} (choose from {', '.join(entries)})")
    return entries[name]


def unavailable_reason(name: str) -> str | None:
    """Why a broken plug-in cannot run (its skip reason), or None."""
    broken = broken_plugins().get(name)
    return broken.reason if broken else None


def make_runtime(name: str) -> Any:
    """A fresh, unloaded runtime by name."""
    return runtime_entry(name).make()


INFERENCE_RUNTIMES = tuple(e.name for e in BUILTIN)  # the default set: built-in, in display order

__all__ = ["BUILTIN", "INFERENCE_RUNTIMES", "BrokenPlugin", "RuntimeEntry", "broken_plugins",
           "make_runtime", "registry", "reload_plugins", "runtime_entry", "runtime_names",
           "unavailable_reason"]
