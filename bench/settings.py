"""`--config FILE.toml` for bench and run: a file of the parser's own long options, command line wins.

Keys are the long option names with underscores (`runtimes = ["eager"]`, `threads = 2`), checked
against the subcommand's argparse actions; a `[timing]` table sets TimingConfig fields. The file is
untrusted input: read through linreg.untrusted, parsed by tomllib, every value type-checked.
"""
from __future__ import annotations

import argparse
import difflib
import math
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench.engine.timing import TimingConfig
from linreg.errors import LinregError
from linreg.untrusted import read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

SKIPPED = ("help", "config", "smoke", "out", "export_dir", "checkpoint")  # not file settings
TIMING_KEYS = tuple(f.name for f in fields(TimingConfig) if f.name != "gc")  # gc is recorded, not chosen


class ConfigFileError(LinregError):
    exit_code = 2


def file_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options a config file may set: every long option but the required and hidden ones."""
    return {a.dest: a for a in parser._actions
            if a.dest not in SKIPPED and a.option_strings and a.help != argparse.SUPPRESS}


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"


def _check(action: argparse.Action, value: Any, bad: Any) -> Any:
    """`value` as the parser would have produced it from the command line."""
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {value!r}")
        return value
    if action.nargs == "+":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise bad(f"expected a non-empty list of strings, got {value!r}")
        return list(value)
    if action.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"expected an integer, got {value!r}")
        return value
    if not isinstance(value, str) or not value or "\0" in value:
        raise bad(f"expected a string, got {value!r}")
    if action.choices is not None and value not in action.choices:
        raise bad(f"{value!r} is not one of {', '.join(action.choices)}")
    return Path(value) if action.type is Path else value


def _check_timing(raw: Any, source: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: key timing: expected a table, got {raw!r}")
    out: dict[str, Any] = {}
    defaults = TimingConfig()
    for key, value in raw.items():
        if key not in TIMING_KEYS:
            raise ConfigFileError(f"{source}: key timing.{key}: unknown key"
                                  + _suggest(key, list(TIMING_KEYS)))
        want = type(getattr(defaults, key))
        ok = isinstance(value, int) if want is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not math.isfinite(value) or value < 0:
            raise ConfigFileError(f"{source}: key timing.{key}: expected a non-negative "
                                  f"{'integer' if want is int else 'number'}, got {value!r}")
        out[key] = want(value)
    return out


def parse_settings(text: str, parser: argparse.ArgumentParser, source: object) -> tuple[dict, dict]:
    """(option values by dest, timing overrides) from a config file's text; ConfigFileError if bad."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{source}: not valid TOML: {exc}") from None
    actions = file_actions(parser)
    values: dict[str, Any] = {}
    timing: dict[str, Any] = {}
    for key, value in data.items():
        if key == "timing":
            timing = _check_timing(value, source)
            continue
        if key not in actions:
            raise ConfigFileError(f"{source}: key {key}: unknown key"
                                  + _suggest(key, [*actions, "timing"]))
        values[key] = _check(actions[key], value,
                             lambda problem, k=key: ConfigFileError(f"{source}: key {k}: {problem}"))
    return values, timing


def load_settings(path: Path, parser: argparse.ArgumentParser) -> tuple[dict, dict, dict]:
    """(values, timing, the file's whole table for results.json) of the config file at `path`."""
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not UTF-8 text") from None
    values, timing = parse_settings(text, parser, path)
    return values, timing, tomllib.loads(text)


def reparse_with_config(parser: argparse.ArgumentParser, args: argparse.Namespace,
                        argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv` again with the --config file's values as the subcommand's defaults."""
    path = getattr(args, "config", None)
    sub = getattr(args, "config_parser", None)
    if path is None or sub is None:
        return args
    values, timing, table = load_settings(path, sub)
    sub.set_defaults(**values, timing_overrides=timing, config_file={"path": str(path), "settings": table})
    return parser.parse_args(argv)
