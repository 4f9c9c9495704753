"""The `linreg-bench` command: argparse subcommands, each dispatched to a `cmd_*` function.

Errors that users cause are caught once, here, and become one `error: ...` line and exit 2.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import SimpleNamespace
from typing import Any

from bench.engine.interrupt import Terminated, sigterm_interrupts
from linreg.argtypes import DefaultsHelpFormatter
from linreg.errors import LinregError, did_you_mean
from linreg.untrusted import printable

# Every command that reads a stranger's export folder admits it before torch loads; these only when
# it holds a manifest (a plain wrong folder keeps their usage and --config errors' order).
EXPORT_DIR_COMMANDS = ("verify", "predict", "bench", "loadgen")
EARLY_ONLY_WITH_MANIFEST = ("bench", "loadgen")
_modules: dict[str, Any] = {}


def _commands() -> Any:
    """The subcommands' modules, imported once, on first use (not at `import bench.cli`: a hostile
    export folder is refused before torch's import, _refuse_early).

    Ctrl-C or SIGTERM while these import torch (a second or two) is held until they are done:
    interrupted midway, a library can swallow it and leave numpy half-imported, and SIGTERM's
    default action ended the process with no line at all."""
    if _modules:
        return SimpleNamespace(**_modules)
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)} if threading.current_thread() is threading.main_thread() else {}
    try:
        from bench import commands as bench_commands
        from bench import compare_cli, settings
        from bench.distributed import command as ddp_command
        from bench.experiments import command as sweep_command
        from bench.history import cli as history_cli
        from bench.history import sidebyside
        from bench.scenarios import command as loadgen_command
        from export import cli as export_cli
        from linreg import cli as linreg_cli
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130)
    _modules.update(bench_commands=bench_commands, compare_cli=compare_cli, settings=settings,
                    ddp_command=ddp_command, sweep_command=sweep_command, history_cli=history_cli,
                    sidebyside=sidebyside, loadgen_command=loadgen_command, export_cli=export_cli,
                    linreg_cli=linreg_cli)
    return SimpleNamespace(**_modules)


def _export_dir_request(argv: list[str]) -> tuple[str, bool] | None:
    """(DIR, whether programs are checked) of `verify|predict|bench|loadgen --export-dir DIR`, read
    from argv as argparse will read it; None when argv is anything else (argparse then decides alone)."""
    if not argv or argv[0] not in EXPORT_DIR_COMMANDS or {"-h", "--help"} & set(argv):
        return None
    folder, trust = None, None
    for i, token in enumerate(argv):
        if token == "--export-dir" and i + 1 < len(argv):
            folder = argv[i + 1]
        elif token.startswith("--export-dir="):
            folder = token.partition("=")[2]
        elif token == "--trust-only" and argv[0] == "verify":  # nargs="+": up to the next option
            rest = argv[i + 1:]
            trust = rest[:next((k for k, t in enumerate(rest) if t.startswith("-")), len(rest))]
    if not folder or folder.startswith("-"):
        return None
    from export.manifest import FORMATS

    return folder, trust is None or set(FORMATS) <= set(trust)  # as verify_export decides


def _refuse_early(argv: list[str]) -> None:
    """Admit an export folder's hashes and structure before torch and onnxruntime are imported: a
    refusal then costs the light checks only (tests/benchmarks/measure_refusals.py). The full path
    checks again; this only moves a refusal earlier, never adds one (--run-unchecked-onnx aside)."""
    request = _export_dir_request(argv)
    if request is None:
        return
    if argv[0] in EARLY_ONLY_WITH_MANIFEST and not os.path.isfile(os.path.join(request[0], "manifest.json")):
        return  # not an export at all: a usage error, in the order the command's own checks give it
    from export.admission import admit_export_folder

    try:
        admit_export_folder(request[0], request[1], check_graphs="--run-unchecked-onnx" not in argv)
    except LinregError:
        raise
    except Exception:  # noqa: BLE001 - anything odd is the full path's to report, its own way
        return


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
    m = _commands()
    m.linreg_cli.register(sub)
    m.export_cli.register(sub)
    m.bench_commands.register_export_speed(sub)  # measured by bench's timing engine
    m.compare_cli.register(sub)
    m.bench_commands.register(sub)
    m.history_cli.register(sub)
    m.sidebyside.register(sub)
    m.ddp_command.register(sub)
    m.loadgen_command.register(sub)
    m.sweep_command.register(sub)
    m.settings.register(sub, sub.choices["bench"])  # config --show: bench/run's settings as TOML
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
        _refuse_early(sys.argv[1:] if argv is None else list(argv))
        parser = build_parser()
        args = _commands().settings.reparse_with_config(parser, parser.parse_args(argv), argv)  # --config
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
