"""Third-party runtimes: packages that declare an entry point in the group `linreg_bench.runtimes`.

An entry point `NAME = "package.module:RuntimeClass"` adds runtime NAME. The class keeps the
bench.runtimes.base.Runtime contract (`load`, `bind`) and declares its capabilities as class
attributes: `artifact` (what it loads: checkpoint | torchscript | onnx | exported_program, default
checkpoint), `compiled` (generates code: 1 ULP of FMA contraction allowed, default False),
`needs_cuda` (default False). A plug-in that fails to import, or breaks the contract, is kept as a
BrokenPlugin: `bench --runtimes NAME` then records skip records that say why, never a crash.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bench.runtimes.base import ARTIFACT_KINDS
from linreg.errors import exception_line

GROUP = "linreg_bench.runtimes"
PLUGIN_ORDER = 1000  # after every built-in runtime in reports


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point in GROUP that could not become a runtime, and why."""

    name: str
    source: str   # the distribution that declares it
    reason: str


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"plug-in {dist.name} {dist.version}" if dist is not None else "plug-in"


def _check_contract(name: str, factory: Any) -> dict[str, Any]:
    """The capabilities a plug-in class declares; ValueError naming what breaks the contract."""
    if not callable(factory):
        raise ValueError(f"{factory!r} is not a class or factory")
    for method in ("load", "bind"):
        if not callable(getattr(factory, method, None)):
            raise ValueError(f"{getattr(factory, '__name__', factory)!r} has no {method}() method")
    artifact = getattr(factory, "artifact", "checkpoint")
    if artifact not in ARTIFACT_KINDS:
        raise ValueError(f"artifact {artifact!r} is none of {', '.join(ARTIFACT_KINDS)}")
    return {"artifact": artifact, "compiled": bool(getattr(factory, "compiled", False)),
            "needs_cuda": bool(getattr(factory, "needs_cuda", False))}


def discover(builtin: set[str]) -> tuple[list[tuple[str, Any, dict[str, Any], str]], list[BrokenPlugin]]:
    """(name, factory, capabilities, source) of every working plug-in, and the broken ones."""
    working: list[tuple[str, Any, dict[str, Any], str]] = []
    broken: list[BrokenPlugin] = []
    seen: set[str] = set()
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        source = _distribution(ep)
        if ep.name in builtin or ep.name in seen:
            broken.append(BrokenPlugin(ep.name, source, f"{source} names runtime {ep.name!r}, "
                                                        f"which is already taken"))
            continue
        seen.add(ep.name)
        try:
            factory = ep.load()
            capabilities = _check_contract(ep.name, factory)
        except Exception as exc:  # noqa: BLE001 - whatever a stranger's import raises
            broken.append(BrokenPlugin(ep.name, source, f"{source} cannot provide runtime "
                                                        f"{ep.name!r} ({exception_line(exc, 200)})"))
            continue
        working.append((ep.name, factory, capabilities, source))
    return working, broken
