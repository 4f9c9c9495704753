"""`--config FILE.toml` for bench and run: a file of the parser's own long options, command line wins.

Keys are the long option names with underscores (`runtimes = ["eager"]`, `threads = [1, 2]`), checked
against the subcommand's argparse actions; a `[timing]` table sets TimingConfig fields. The file is
untrusted input: read through linreg.untrusted, parsed by tomllib, every value type-checked.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench.engine.timing import TimingConfig
from bench.suite import DEFAULT_PROCESSES, SuiteConfig
from linreg.errors import LinregError, did_you_mean
from linreg.untrusted import read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

SKIPPED = ("help", "config", "smoke", "out", "export_dir", "checkpoint")  # not file settings
# gc is recorded, not chosen; reference and latency are set per process by the suite
TIMING_KEYS = tuple(f.name for f in fields(TimingConfig) if f.name not in ("gc", "reference", "latency"))


class ConfigFileError(LinregError):
    exit_code = 2


def file_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options a config file may set: every long option but the required and hidden ones."""
    return {a.dest: a for a in parser._actions
            if a.dest not in SKIPPED and a.option_strings and a.help != argparse.SUPPRESS}


def _one(action: argparse.Action, value: Any, bad: Any) -> Any:
    """One value through the option's own type function, as if typed on the command line."""
    kind = action.type or str
    if kind in (str, Path):
        if not isinstance(value, str) or not value or "\0" in value:
            raise bad(f"expected a string, got {value!r}")
    elif getattr(kind, "__name__", "") == "float":  # float_within: an integer or a float
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"expected a number, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"expected an integer, got {value!r}")
    try:
        value = kind(str(value)) if kind not in (str, Path) else kind(value)
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise bad(str(exc) or f"bad value {value!r}") from None
    if action.choices is not None and value not in action.choices:
        raise bad(f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def _check(action: argparse.Action, value: Any, bad: Any) -> Any:
    """`value` as the parser would have produced it from the command line."""
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {value!r}")
        return value
    if action.nargs == "+":
        if not isinstance(value, (list, dict)):  # one value for a list option: `threads = 2`
            value = [value]
        if not isinstance(value, list) or not value:
            raise bad(f"expected a non-empty list, got {value!r}")
        return [_one(action, v, bad) for v in value]
    return _one(action, value, bad)


def _check_timing(raw: Any, source: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: key timing: expected a table, got {raw!r}")
    out: dict[str, Any] = {}
    defaults = TimingConfig()
    for key, value in raw.items():
        if key not in TIMING_KEYS:
            raise ConfigFileError(f"{source}: key timing.{key}: unknown key"
                                  + did_you_mean(key, list(TIMING_KEYS)))
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
                                  + did_you_mean(key, [*actions, "timing"]))
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


TIMING_HELP = {
    "warmup_calls": "untimed calls before timing each measurement",
    "warmup_s": "...and at least this many seconds of warm-up",
    "min_sample_s": "one timed block lasts at least this long (seconds)",
    "min_total_s": "timed work per measurement (seconds)",
    "min_samples": "...and at least this many samples, for a meaningful IQR",
    "max_total_s": "cap for very slow calls: fewer samples then, with a warning (seconds)",
    "latency_calls": "inference: single calls timed one by one for the latency percentiles",
    "latency_max_s": "...but at most this long (seconds)",
    "rounds": "sizes below 10^7: fresh instances timed one after the other in each process, each a draw"
              " of the estimate (README: The method)",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(" ".join(text.split()), 96)]


def show_defaults(parser: argparse.ArgumentParser) -> str:
    """A commented TOML file of bench/run's settings at their defaults: the file a user starts from."""
    suite = SuiteConfig()
    lines = ["# linreg-bench bench/run settings: pass with --config FILE.toml; the command line wins.",
             "# Keys are the long options with underscores; --out and --export-dir/--checkpoint stay on",
             "# the command line. The whole file is stored in results.json (config.config_file).", ""]
    for dest, action in file_actions(parser).items():
        lines += _comment(action.help or "")
        if action.default is not None:
            lines.append(f"{dest} = {_toml_value(action.default)}")
        else:  # chosen by the command (--quick changes it): commented out, the full run's value shown
            # SuiteConfig's processes is 1 (tests, the API); bench and run default to 3
            example = DEFAULT_PROCESSES if dest == "processes" else getattr(suite, dest, None)
            lines.append(f"# {dest} = {_toml_value(action.metavar if example is None else example)}")
        lines.append("")
    lines += ["# The timing budget of each measurement (bench/engine/timing.py TimingConfig); a key set",
              "# here replaces --quick's shorter value too. Shown at the full run's values.", "[timing]"]
    for key in TIMING_KEYS:
        lines += _comment(TIMING_HELP[key]) + [f"# {key} = {_toml_value(getattr(suite.timing, key))}"]
    return "\n".join(lines) + "\n"


def register(subparsers: argparse._SubParsersAction, bench_parser: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("config", help="print bench/run's settings as a commented TOML file")
    p.add_argument("--show", action="store_true", required=True,
                   help="print every --config key at its default, with its help as a comment")

    def cmd_config(args: argparse.Namespace) -> int:
        sys.stdout.write(show_defaults(bench_parser))
        return 0
    p.set_defaults(func=cmd_config)
