"""The one formatter of durations, rates, bandwidths and sizes: reports, plots, compare and warnings."""
from __future__ import annotations

import math
from typing import Any

_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
_SI = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))


def missing(x: Any) -> bool:
    """None or a non-finite float: nothing to print."""
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def _sig3(value: float) -> str:
    """Three significant digits without exponent: 7.10, 71.2, 712, 1234."""
    if abs(value) >= 99.95:  # "#.3g" would print "100." here
        return f"{value:.0f}"
    return f"{value:#.3g}"


def format_duration(seconds: float | None, unit: str | None = None, none: str = "–") -> str:
    """Seconds in human units with 3 significant digits: 25.0 ns, 7.12 µs, 1.30 ms, 2.35 s.

    `unit` ("s", "ms", "µs", "ns") forces a unit, e.g. to print an IQR in its median's unit;
    `none` is printed for a missing or non-finite value.
    """
    if missing(seconds):
        return none
    if seconds == 0:
        return "0 s"
    scales = dict(_UNITS)
    if unit is None or abs(seconds) / scales[unit] < 0.1:  # "34.0 µs" reads better than "0.0340 ms"
        unit = next((n for n, s in _UNITS if abs(seconds) >= s * 0.9995), "ns")
    return f"{_sig3(seconds / scales[unit])} {unit}"


def format_rate(per_s: float | None) -> str:
    """A count per second with an SI prefix: 7.52 M/s."""
    if missing(per_s):
        return "–"
    prefix, scale = next(((p, s) for p, s in _SI if abs(per_s) >= s * 0.9995), ("", 1.0))
    return f"{_sig3(per_s / scale)} {prefix}/s" if prefix else f"{_sig3(per_s)}/s"


def format_bytes_per_s(bytes_per_s: float | None) -> str:
    if missing(bytes_per_s):
        return "–"
    return f"{bytes_per_s / 1e9:.1f} GB/s"


def format_size(n: int) -> str:
    """1, 1000, 10^6: powers of ten from 10^4 up as exponents, other large sizes with separators."""
    if n >= 10_000 and 10 ** round(math.log10(n)) == n:
        return f"10^{round(math.log10(n))}"
    return str(n) if n < 10_000 else f"{n:,}"
