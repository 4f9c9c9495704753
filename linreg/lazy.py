"""Package-level APIs loaded on first use (PEP 562), so importing a package stays light."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_api(package: str, api: dict[str, str], namespace: dict[str, Any]
             ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for `package`, whose public names map to "module:attribute"."""

    def __getattr__(name: str) -> Any:
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = api[name].partition(":")
        value = getattr(importlib.import_module(module), attr)
        namespace[name] = value  # once loaded, a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(api))

    return __getattr__, __dir__
