"""Every subcommand's --help says what it does first, and shows every default (no subprocess: fast)."""
from __future__ import annotations

import argparse

import pytest

from bench.cli import build_parser
from linreg.argtypes import format_default


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


SUBCOMMANDS = _subcommands()


def test_every_subcommand_is_walked() -> None:
    assert {"train", "export", "verify", "predict", "bench", "run", "compare", "history", "report",
            "ddp", "loadgen", "sweep", "config", "export-speed"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_help_opens_with_what_the_subcommand_does(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([name, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    # argparse prints usage, a blank line, then the description: its first line must be a sentence.
    after_usage = text.split("\n\n", 1)[1].lstrip()
    first = after_usage.splitlines()[0]
    assert not first.startswith(("options:", "positional arguments:")), f"{name}: no description"
    assert first[:1].isupper() and len(first.split()) >= 3, f"{name}: description starts {first!r}"


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_help_shows_every_default(name: str) -> None:
    parser = SUBCOMMANDS[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
            continue
        shown = " ".join(formatter._expand_help(action).split())
        label = "/".join(action.option_strings) or action.dest
        assert "default" in shown, f"{name} {label}: default {action.default!r} not shown in {shown!r}"
        assert format_default(action.default) in shown, (
            f"{name} {label}: default {format_default(action.default)!r} not in {shown!r}")
