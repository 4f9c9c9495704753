"""Read a file that a stranger may have written: bounded, typed, and never a traceback.

Every file linreg-bench reads (manifest.json, results.json, pytest-benchmark JSON, configs,
history files) is untrusted input. This module is the one way to read them:

    data = load_json(path, "results file")                 # regular file, size and depth bounded
    runs = require(data, "runs", list, path)                # a field of the right type, or error
    name = require_text(run["name"], path, "runs[0].name")  # str, no NUL, length bounded
    t = require_number(x, path, "runs[0].times_s[3]", positive=True)   # finite, > 0

Every problem raises UntrustedFileError (a LinregError: the CLI prints one `error: ...` line and
exits 2) whose message names the FILE and the FIELD: "<file>: field <field>: <problem>".

What is refused before a byte is parsed:
  - anything that is not a regular file: a folder, a FIFO (reading would block forever), a
    device such as /dev/zero (reading would never end), a socket;
  - a file over `max_bytes` (default MAX_FILE_BYTES), checked on the open descriptor;
  - JSON nested deeper than `max_depth` (default MAX_JSON_DEPTH), counted without recursion, so
    json never raises RecursionError and no caller recurses into a 100,000-level structure;
  - NaN/Infinity literals, which are not JSON (Python's json accepts them by default).
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from linreg.errors import LinregError

MAX_FILE_BYTES = 64 << 20  # 64 MiB: far above any results or manifest file this tool writes
MAX_JSON_DEPTH = 64        # results.json nests 5 levels; 64 leaves room and stops pathological input
MAX_TEXT_CHARS = 4096      # a path, a name, a label: longer is not something we wrote

T = TypeVar("T")
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
               int: "an integer", float: "a number"}


class UntrustedFileError(LinregError):
    """A file from outside is unreadable, oversized, special or malformed (exit 2)."""


def _fail(source: object, problem: str, field: str | None = None) -> UntrustedFileError:
    where = f"field {field}: " if field else ""
    return UntrustedFileError(f"{source}: {where}{problem}")


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular_file(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> int:
    """The size of `path`, a regular file of at most max_bytes; anything else raises, unread."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _fail(path, f"is {file_kind(st.st_mode)}, not a regular file; refusing to read it")
    if st.st_size > max_bytes:
        raise _fail(path, f"is {st.st_size} bytes, over the {max_bytes}-byte limit for this file")
    return st.st_size


def read_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The whole content of a regular file of at most max_bytes.

    Opened with O_NONBLOCK so that a FIFO swapped in after the stat cannot hang the open, and
    re-checked with fstat on the descriptor we actually read.
    """
    check_regular_file(path, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _fail(path, f"is {file_kind(st.st_mode)}, not a regular file; refusing to read it")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _fail(path, f"is over the {max_bytes}-byte limit for this file")
    return data


def json_depth(raw: bytes, stop_above: int | None = None) -> int:
    """How deeply JSON text nests its lists and objects, without recursing; stops counting once
    past `stop_above`. One lazy pass over the quotes, escapes and brackets: constant extra memory
    (the earlier regex over whole strings took ~120 bytes per input byte)."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1  # the offset of a character escaped by an odd run of backslashes
    for match in _JSON_TOKEN.finditer(raw):
        start, end = match.span()  # offsets only: a 50 MB run of backslashes is never copied
        first = raw[start]
        if first == 0x5C:  # backslashes: an odd run escapes the character right after it
            escaped_at = end if (end - start) % 2 else -1
        elif start == escaped_at:
            continue
        elif first == 0x22:  # "
            in_string = not in_string
        elif not in_string:
            depth += 1 if first in (0x5B, 0x7B) else -1  # [ {
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
    return deepest


# A run of backslashes (one-character repeat: no regex backtracking state), a quote or a bracket.
_JSON_TOKEN = re.compile(rb'\\+|["\[\]{}]')


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (but tab, newline), DEL, C1


def printable(text: str) -> str:
    """`text` with control characters shown as \\xNN: a runtime name from a stranger's file must
    not drive the terminal (an ESC sequence can retitle it, hide lines, or fake output)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, source: object, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON bytes from `source` (named in errors): UTF-8, depth-bounded, no NaN/Infinity."""
    depth = json_depth(raw, stop_above=max_depth)
    if depth > max_depth:
        raise _fail(source, f"JSON nested more than {max_depth} levels deep, over the limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(source, "not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _fail(source, f"invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity; huge integer literals
        raise _fail(source, f"invalid JSON ({str(exc).splitlines()[0][:120]})") from None


def load_json(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """read_bytes + parse_json: a stranger's JSON file, every failure one error naming the file."""
    return parse_json(read_bytes(path, max_bytes), Path(path), max_depth)


# ------------------------------------------------------------------ field checks

def require_type(value: Any, kind: type[T] | tuple[type, ...], source: object, field: str) -> T:
    """`value` if it is an instance of `kind` (bool never counts as int or float), else error."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise _fail(source, f"expected {wanted}, got {_describe(value)}", field)
    return value  # type: ignore[return-value]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def require(mapping: Any, key: str, kind: type[T] | tuple[type, ...], source: object,
            prefix: str = "") -> T:
    """mapping[key], present and of type `kind`; the field is named `prefix.key` in errors."""
    field = f"{prefix}.{key}" if prefix else key
    if not isinstance(mapping, Mapping):
        raise _fail(source, f"expected an object, got {_describe(mapping)}", prefix or "(top level)")
    if key not in mapping:
        raise _fail(source, "missing", field)
    return require_type(mapping[key], kind, source, field)


def require_text(value: Any, source: object, field: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """A non-empty string without NUL or other control bytes, at most max_chars long."""
    text = require_type(value, str, source, field)
    if not text:
        raise _fail(source, "is empty", field)
    if len(text) > max_chars:
        raise _fail(source, f"is {len(text)} characters, over the limit of {max_chars}", field)
    if any(ord(c) < 32 and c not in "\t" for c in text):
        raise _fail(source, "holds a NUL or control character", field)
    return text


def require_int(value: Any, source: object, field: str, minimum: int | None = None,
                maximum: int | None = None) -> int:
    """An integer (not a bool) within [minimum, maximum]."""
    number = require_type(value, int, source, field)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"[{minimum if minimum is not None else '-inf'}, {maximum if maximum is not None else 'inf'}]"
        raise _fail(source, f"{number} is outside {bounds}", field)
    return number


def require_number(value: Any, source: object, field: str, positive: bool = False,
                   nonnegative: bool = False) -> float:
    """A finite number (int or float, not bool); > 0 when positive, >= 0 when nonnegative."""
    number = require_type(value, (int, float), source, field)
    try:
        as_float = float(number)
    except OverflowError:
        raise _fail(source, "is too large for a float", field) from None
    if not math.isfinite(as_float):
        raise _fail(source, "is not finite", field)
    if positive and as_float <= 0:
        raise _fail(source, f"must be > 0, got {number}", field)
    if nonnegative and as_float < 0:
        raise _fail(source, f"must be >= 0, got {number}", field)
    return as_float


def require_samples(value: Any, source: object, field: str) -> list[float]:
    """A list of timing samples: finite, > 0 (a zero or negative time is not a measurement)."""
    items = require_type(value, list, source, field)
    return [require_number(v, source, f"{field}[{i}]", positive=True) for i, v in enumerate(items)]


__all__ = [
    "UntrustedFileError", "MAX_FILE_BYTES", "MAX_JSON_DEPTH", "MAX_TEXT_CHARS",
    "check_regular_file", "read_bytes", "json_depth", "parse_json", "load_json", "printable",
    "require", "require_type", "require_text", "require_int", "require_number", "require_samples",
]
