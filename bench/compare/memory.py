"""Memory changes between two runs: listed always, a gate only when asked (`--fail-on-memory N%`).

Memory is not timed noise: the same code allocates the same pages, give or take the allocator's
granularity. So a change counts when it is beyond N% AND beyond MIN_CHANGE_BYTES (a few pages of
a small peak flip between runs), and there is no significance test. Only schema-v2 results carry
memory; files without it list nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from linreg.errors import LinregError

MIN_CHANGE_BYTES = 1 << 20   # 1 MiB: below this a peak's change is page and arena granularity
METRICS = (("rss_peak_above_baseline_bytes", "RSS peak"), ("cuda_max_allocated_bytes", "CUDA peak"))


@dataclass(frozen=True)
class MemoryChange:
    label: str
    metric: str          # "RSS peak" | "CUDA peak"
    base_bytes: float
    new_bytes: float

    @property
    def ratio(self) -> float:
        return self.new_bytes / self.base_bytes if self.base_bytes > 0 else math.inf

    @property
    def changed(self) -> bool:
        return abs(self.new_bytes - self.base_bytes) >= MIN_CHANGE_BYTES

    def exceeds(self, percent: float) -> bool:
        """Grew beyond `percent` and beyond MIN_CHANGE_BYTES."""
        grown = self.new_bytes - self.base_bytes
        return grown >= MIN_CHANGE_BYTES and self.new_bytes > self.base_bytes * (1 + percent / 100)

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {"label": self.label, "metric": self.metric, "base_bytes": self.base_bytes,
                "new_bytes": self.new_bytes, "ratio": ratio if math.isfinite(ratio) else None}


def parse_percent(text: str) -> float:
    """`--fail-on-memory` as "N%" or "N": a finite N >= 0."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise LinregError(f"--fail-on-memory must look like 20%, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise LinregError(f"--fail-on-memory must be a finite percentage >= 0, got {text!r}")
    return value


def memory_changes(pairs: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]) -> list[MemoryChange]:
    """Changed memory figures of (label, BASE memory, NEW memory) pairs measured in both files."""
    out = []
    for label, base, new in pairs:
        for key, metric in METRICS:
            b, n = (base or {}).get(key), (new or {}).get(key)
            if isinstance(b, (int, float)) and isinstance(n, (int, float)):
                change = MemoryChange(label, metric, float(b), float(n))
                if change.changed:
                    out.append(change)
    return out


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def memory_lines(changes: tuple[MemoryChange, ...] | list[MemoryChange]) -> list[str]:
    """The 'memory changes' lines of the text and Markdown reports (nothing when none changed)."""
    if not changes:
        return []
    lines = [f"memory changes (beyond {_mib(MIN_CHANGE_BYTES)}; not gated unless --fail-on-memory):"]
    for c in changes:
        ratio = "new" if not math.isfinite(c.ratio) else f"{c.ratio:.2f}x"
        lines.append(f"  {c.label}: {c.metric} {_mib(c.base_bytes)} -> {_mib(c.new_bytes)} ({ratio})")
    return lines
