"""The `linreg-bench` command: argparse subcommands, each dispatched to a `cmd_*` function.

Errors that users cause are caught once, here, and become one `error: ...` line and exit 2.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

# Ctrl-C or SIGTERM while these import torch (the first second or two of any command) is held until
# they are done: interrupted midway, a library can swallow it and leave numpy half-imported, and
# SIGTERM's default action ended the process with no line at all.
_held: list[int] = []
_previous = {sig: signal.signal(sig, lambda signum, frame: _held.append(signum))
             for sig in (signal.SIGINT, signal.SIGTERM)} if threading.current_thread() is threading.main_thread() else {}
try:
    from bench import commands as bench_commands
    from bench.engine.interrupt import Terminated, sigterm_interrupts
    from bench import compare_cli
    from bench.distributed import command as ddp_command
    from bench.experiments import command as sweep_command
    from bench.history import cli as history_cli
    from bench.history import sidebyside
    from bench.scenarios import command as loadgen_command
    from bench import settings
    from bench.settings import reparse_with_config
    from export import cli as export_cli
    from linreg import cli as linreg_cli
    from linreg.argtypes import DefaultsHelpFormatter
finally:
    for _sig, _handler in _previous.items():
        signal.signal(_sig, _handler)
if _held:
    sys.stderr.write("error: interrupted\n")
    raise SystemExit(130)
from linreg.errors import LinregError, did_you_mean
from linreg.untrusted import printable


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error: ...` line (exit 2), like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """A mistyped subcommand or choice (`rnu`) names the close one, as TOML keys do."""
        choices = action.choices
        if choices is not None and value not in choices and isinstance(value, str):
            hint = did_you_mean(value, map(str, choices), None)
            if hint:
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}")
        super()._check_value(action, value)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """A mistyped option (`--qiuck`) is an error here, where this subcommand's options are
        known, and first: before a missing required option hides it."""
        if self._subparsers is None:  # the top parser sees every subcommand's options: not it
            for token in sys.argv[1:] if args is None else args:
                if token == "--":
                    break
                name = token.split("=", 1)[0]
                if name.startswith("--") and not any(o.startswith(name) for o in self._option_string_actions):
                    hint = did_you_mean(name, self._option_string_actions, None)
                    if hint:
                        self.error(f"unrecognized arguments: {token}{hint}")
        return super().parse_known_args(args, namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="linreg-bench",
        description="The PyTorch workflow tutorial as a reproducible benchmark harness.",
        formatter_class=DefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    linreg_cli.register(sub)
    export_cli.register(sub)
    bench_commands.register_export_speed(sub)  # measured by bench's timing engine
    compare_cli.register(sub)
    bench_commands.register(sub)
    history_cli.register(sub)
    sidebyside.register(sub)
    ddp_command.register(sub)
    loadgen_command.register(sub)
    sweep_command.register(sub)
    settings.register(sub, sub.choices["bench"])  # config --show: bench/run's settings as TOML
    _document(sub)
    return parser


def _document(sub: argparse._SubParsersAction) -> None:
    """Every subcommand's --help opens with what it does (its one-line help) and shows its defaults."""
    for choice in sub._choices_actions:
        p = sub.choices[choice.dest]
        if p.formatter_class is argparse.HelpFormatter:
            p.formatter_class = DefaultsHelpFormatter
        what = (choice.help or "")[:1].upper() + (choice.help or "")[1:] + "."
        if not p.description:
            p.description = what
        elif p.description.startswith("`"):  # a usage line first: say what it does before it
            p.description = f"{what} {p.description}"


def _redeliver_swallowed_interrupts(unraisable: Any) -> None:
    """sys.unraisablehook: Python swallows an interrupt raised while a finalizer or weakref callback
    runs ('Exception ignored in ...'), and the run went on to the end; send the signal to this
    process again, so it lands in ordinary code and ends the command."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        # From another thread, a moment later: sent from here, the handler would run at once,
        # inside this hook and the finalizer, and be swallowed again.
        sig = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        timer = threading.Timer(0.05, os.kill, (os.getpid(), sig))
        timer.daemon = True
        timer.start()
        return
    sys.__unraisablehook__(unraisable)


def main(argv: list[str] | None = None) -> int:
    previous_hook, sys.unraisablehook = sys.unraisablehook, _redeliver_swallowed_interrupts
    try:
        with sigterm_interrupts():  # SIGTERM (kill, a CI timeout) ends any command as Ctrl-C does
            return _main(argv)
    finally:
        sys.unraisablehook = previous_hook


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = reparse_with_config(parser, parser.parse_args(argv), argv)  # --config FILE.toml
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse --help and usage errors
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    except LinregError as exc:  # one line, whatever a file's text put in the message
        sys.stderr.write("error: " + printable(str(exc)).replace("\n", "\\n") + "\n")
        return exc.exit_code
    except BrokenPipeError:  # stdout closed by its reader (`| head -2`): end quietly
        quiet_stdout()
        return 141  # 128 + SIGPIPE: what a tool killed by the closed pipe would return
    except OSError as exc:  # an unwritable --out, a full disk: say which file, no traceback
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"error: {exc.strerror or exc}{where}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


def quiet_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's last flush of a closed pipe must not print
    `Exception ignored ... BrokenPipeError` after we chose to end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already gone
        pass


if __name__ == "__main__":
    sys.exit(main())
