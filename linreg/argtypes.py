"""argparse types shared by every command: one clear message per bad value, no traceback."""
from __future__ import annotations

import argparse
import math
import struct
from typing import Any, Callable


def format_default(value: Any) -> str:
    """A default as a user types it: `10000 1000000` for a list, `300` for 300.0."""
    if isinstance(value, (list, tuple)):
        return " ".join(format_default(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """--help shows every option's default, except options whose default is "not given" (None).

    A help text that already states its default in words ("default 1; --quick 2") is kept as is.
    A description or epilog written over several lines keeps its lines (an example file, say).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default not in (None, argparse.SUPPRESS, False) and "%(default)" not in text
                and "default" not in text):
            text += " (default: " + format_default(action.default).replace("%", "%%") + ")"
        return text

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip():
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _convert(text: str, kind: type, message: str) -> Any:
    """kind(text), or argparse's one-line error `message` instead of a ValueError."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None


def finite_float(text: str) -> float:
    """argparse type: a finite number, or a one-line error naming the bad value."""
    value = _convert(text, float, f"not a number: {text!r}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _convert(text, int, f"not an integer: {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def int_within(low: int, high: int) -> Callable[[str], int]:
    """argparse type factory: an integer in [low, high] (an upper bound on what can finish)."""
    def parse(text: str) -> int:
        value = _convert(text, int, f"not an integer: {text!r}")
        shown = str(value) if len(text) <= 24 else f"a {len(text.strip().lstrip('+-'))}-digit number"
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {shown}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {shown}")
        return value
    parse.__name__ = "int"  # argparse names the type in its messages
    return parse


def float_within(low: float, high: float) -> Callable[[str], float]:
    """argparse type factory: a finite number in [low, high] (a bound with an upper bound)."""
    def parse(text: str) -> float:
        value = finite_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be within [{low:g}, {high:.4g}], got {text[:24]!r}")
        return value
    parse.__name__ = "float"
    return parse


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _convert(text, int, f"not an integer: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def number(text: str) -> float:
    """argparse type for inputs X: a float literal that float32 holds (finite, or an explicit inf)."""
    value = _convert(text, float, f"X must be a number, got {text!r}")
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"X must be a finite number (or inf), got {text!r}")
    try:
        struct.pack("<f", value)  # OverflowError exactly where float32 rounding would give inf
    except OverflowError:
        raise argparse.ArgumentTypeError(f"X {value!r} is outside the float32 range") from None
    return value
