"""Third-party training variants: packages that declare an entry point in the group `linreg_bench.variants`.

An entry point `NAME = "package.module:LoopClass"` adds training variant NAME. The class is built
as `LoopClass(X, y, device)` and keeps the loops' contract (bench/training/loops.py): `step()`
runs one full-batch training step, `parameters()` returns (weights, bias). Its capabilities are
class attributes: `parity_atol` (None: bit-exact with the eager loop, the default), `compiled`
(compiles or captures at each size, default False), `needs_cuda` (default False). A plug-in that
fails to import or breaks the contract is kept with its reason: `bench --variants NAME` then
records skip records that say why, and the built-in variants run as before.
"""
from __future__ import annotations

from importlib import metadata
from typing import Any

from linreg.errors import exception_line

GROUP = "linreg_bench.variants"
PLUGIN_ORDER = 1000  # after every built-in variant in reports


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"plug-in {dist.name} {dist.version}" if dist is not None else "plug-in"


def _capabilities(factory: Any) -> dict[str, Any]:
    """What a plug-in class declares; ValueError naming what breaks the contract."""
    if not callable(factory):
        raise ValueError(f"{factory!r} is not a class or factory")
    for method in ("step", "parameters"):
        if not callable(getattr(factory, method, None)):
            raise ValueError(f"{getattr(factory, '__name__', factory)!r} has no {method}() method")
    atol = getattr(factory, "parity_atol", None)
    if atol is not None and not (isinstance(atol, (int, float)) and atol >= 0):
        raise ValueError(f"parity_atol must be None or a number >= 0, got {atol!r}")
    return {"parity_atol": atol, "compiled": bool(getattr(factory, "compiled", False)),
            "needs_cuda": bool(getattr(factory, "needs_cuda", False))}


def discover(builtin: set[str]) -> list[tuple[str, Any, dict[str, Any], str, str | None]]:
    """(name, factory, capabilities, source, broken reason or None) of every plug-in variant."""
    found: list[tuple[str, Any, dict[str, Any], str, str | None]] = []
    seen: set[str] = set()
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        source = _distribution(ep)
        if ep.name in builtin or ep.name in seen:
            continue  # a name already taken is never shadowed: the first one stays
        seen.add(ep.name)
        try:
            factory = ep.load()
            found.append((ep.name, factory, _capabilities(factory), source, None))
        except Exception as exc:  # noqa: BLE001 - whatever a stranger's import raises
            found.append((ep.name, None, {}, source, f"{source} cannot provide training variant "
                                                     f"{ep.name!r} ({exception_line(exc, 200)})"))
    return found
