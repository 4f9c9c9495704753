"""Reading a measurement's instruction counts (results.json v3 `instructions`), for compare and history.

The object comes from a file, so it is untrusted: all or nothing, every number checked. A
malformed object reads as "no count", with the reason, never as a number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_REPEATS = 100   # the pass writes 2; more than this is not ours


@dataclass(frozen=True)
class Counts:
    """One measurement's instructions per call: the repeats, how many calls each, or why none."""

    repeats_per_call: tuple[float, ...] = ()
    calls: int | None = None
    skip_reason: str | None = None

    @property
    def counted(self) -> bool:
        return bool(self.repeats_per_call)

    @property
    def spread(self) -> float:
        """max/min - 1 of the repeats (0 for one repeat, nan for none)."""
        if not self.repeats_per_call:
            return math.nan
        return max(self.repeats_per_call) / min(self.repeats_per_call) - 1.0


def positive(value: Any) -> float | None:
    """A finite number > 0 from a file, as a float; None for anything else (bools included)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) and value > 0 else None


def counts_of(record: Any) -> Counts | None:
    """The Counts of an `instructions` object; None when the measurement has none at all."""
    if record is None:
        return None
    if not isinstance(record, dict):
        return Counts(skip_reason="malformed instructions record")
    reason = record.get("skip_reason")
    if reason is not None:
        return Counts(skip_reason=str(reason)[:300])
    repeats = record.get("repeats_per_call")
    if not isinstance(repeats, list) or not 0 < len(repeats) <= MAX_REPEATS:
        return Counts(skip_reason="malformed instructions record (repeats_per_call)")
    values = [positive(v) for v in repeats]
    if None in values:
        return Counts(skip_reason="malformed instructions record (a count that is not > 0)")
    calls = record.get("calls")
    calls = calls if isinstance(calls, int) and not isinstance(calls, bool) and calls > 0 else None
    return Counts(tuple(values), calls)  # type: ignore[arg-type]


def has_counts(records: list[Any]) -> bool:
    """Whether any of these `instructions` objects holds a count (a file measured the metric)."""
    return any((c := counts_of(r)) is not None and c.counted for r in records)
