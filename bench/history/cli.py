"""`linreg-bench history`: file runs into a store (`history add`), trends, steps, a dashboard, exports.

    linreg-bench history add DIR results.json [results.json ...] [--machine NAME]
    linreg-bench history DIR [--out SITE] [--regressions] [--export FORMAT [-o FILE|-]]
    linreg-bench history backfill DIR --commits A..B [--every K | --max N] [bench options]
    linreg-bench history find DIR --commits A..B --measurement KEY [--fail-on median:N%]
    linreg-bench history find DIR --commits A..B --measurement KEY --own-bench [bench options]

Exit codes: 0 fine; 1 with --regressions when the newest run of a machine carries a flagged
slowdown, and for find when no commit is named (no step, or an inconclusive one); 2 bad input
(one `error: ...` line). backfill and find: bench/history/workflow_cli.py. A corrupt file inside the store is reported on
stderr and skipped; it never stops the others.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.compare.counts import DEFAULT_INSTRUCTION_FAIL_ON, InstructionGate
from bench.compare.gate import DEFAULT_ALPHA, STABLE_HOST_ALPHA, MedianGate
from bench.history import workflow_cli
from bench.history.analysis import analyze
from bench.history.exports import export
from bench.history.site import build_site, check_site_target, page_weight
from bench.history.runs import run_of
from bench.history.store import MAX_RUN_BYTES, file_run, open_store, parse_run_filename, place_of
from bench.store.results import RESULTS_JSON, validate_results
from linreg.errors import LinregError
from linreg.destinations import check_output_file
from linreg.files import write_text_atomic
from linreg.untrusted import parse_json, read_bytes

DEFAULT_STEP = "median:10%"  # compare's default threshold: a step must clear it AND be significant


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "history", help="keep a results store across commits and machines: file runs, show trends and steps, "
                        "build a dashboard",
        description=("`history add DIR FILE...` files results.json runs into the store DIR "
                     "(idempotent: a run already there is stored once). `history DIR` reads the "
                     "store: flagged steps (compare's rule: beyond --fail-on AND p < --alpha), "
                     "a static dashboard (--out), exports (--export). Exit 1 with --regressions "
                     "when a machine's newest run carries a flagged slowdown; 2 on bad input."))
    p.add_argument("args", nargs="+", metavar="DIR | add DIR FILE | backfill DIR | find DIR",
                   help="the store to read, `add DIR results.json ...` to file runs into it, "
                        "`backfill DIR` to run a range of commits into it, `find DIR` to bisect")
    p.add_argument("--machine", metavar="NAME",
                   help="add: file under this machine id (for results without one); "
                        "--export: only this machine")
    p.add_argument("--out", type=Path, metavar="SITE", help="write the static dashboard to SITE")
    p.add_argument("--regressions", action="store_true",
                   help="print flagged steps; exit 1 if a machine's newest run has a flagged slowdown")
    p.add_argument("--export", choices=("github-action-benchmark", "bmf", "pytest-benchmark"),
                   help="write the newest run of each machine in this format (to stdout, or -o FILE)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="the export's file; - (or none) is stdout, and the summary lines go to stderr")
    p.add_argument("--fail-on", default=DEFAULT_STEP, metavar="median:N%",
                   help="step threshold, compare's spelling (default median:10%%)")
    p.add_argument("--alpha", type=float, default=None,
                   help=f"significance level of the Mann-Whitney U test, one for every figure (default "
                        f"{DEFAULT_ALPHA}; {STABLE_HOST_ALPHA} on host ratios against a stable reference)")
    p.add_argument("--fail-on-instructions", default=DEFAULT_INSTRUCTION_FAIL_ON, metavar="median:N%",
                   help="step threshold of the instruction counts' own trends (default "
                        f"{DEFAULT_INSTRUCTION_FAIL_ON.replace('%', '%%')}; no test: counts are deterministic)")
    p.add_argument("--repo", type=Path, metavar="GIT_DIR",
                   help="order commits by this git repository's history (default: the ancestry "
                        "that backfilled runs record, then first seen); backfill/find: the "
                        "repository whose commits run (default: this checkout)")
    workflow_cli.register(p)
    p.set_defaults(func=cmd_history)


def prepare_store(store_dir: Path | None) -> None:
    """`bench/run --history DIR`: open (or create) the store before measuring."""
    if store_dir is not None:
        open_store(store_dir, create=True)


def file_bench_run(store_dir: Path | None, out: Path, results: dict[str, Any]) -> None:
    """`bench/run --history DIR`: file the run's results.json, byte for byte, into the store."""
    if store_dir is None:
        return
    filed = file_run(open_store(store_dir), results, raw=(out / RESULTS_JSON).read_bytes())
    print(f"history: {'added' if filed.added else 'already stored'} {filed.path}")


def cmd_history(args: argparse.Namespace) -> int:
    if args.args[0] == "backfill":
        return workflow_cli.cmd_backfill(args)
    if args.args[0] == "find":
        return workflow_cli.cmd_find(args)
    workflow_cli.check_workflow_options(args, "")
    if args.args[0] == "add":
        if len(args.args) < 3:
            raise LinregError("history add needs a store folder and at least one results.json")
        if args.out or args.regressions or args.export or args.repo:
            raise LinregError("history add takes only --machine")
        return add_files(Path(args.args[1]), [Path(a) for a in args.args[2:]], args.machine)
    if len(args.args) != 1:
        raise LinregError(f"history takes one store folder, got {len(args.args)} arguments "
                          "(to file runs: history add DIR results.json ...)")
    if args.output is not None and not args.export:
        raise LinregError("-o FILE goes with --export FORMAT")
    if args.export and to_stdout(args.output) and args.regressions:
        raise LinregError("--export to stdout and --regressions would share stdout; name a file with -o")
    if args.output is not None and not to_stdout(args.output):
        check_output_file(args.output, "-o")  # a device, FIFO or link is never replaced
    return read_history(Path(args.args[0]), args)


def to_stdout(output: Path | None) -> bool:
    """-o - (or no -o) writes the export to stdout, as the field's tools do."""
    return output is None or str(output) == "-"


def add_files(store_dir: Path, files: list[Path], machine: str | None) -> int:
    """File each results.json; all are validated before the first is filed (all or nothing)."""
    loaded: list[tuple[Path, dict[str, Any], bytes]] = []
    for path in files:
        raw = read_bytes(path, MAX_RUN_BYTES)  # the bytes validated are the bytes stored
        data = parse_json(raw, path)
        validate_results(data, str(path))
        try:
            machine_name, run_id, name = place_of(data, machine)  # ids and time usable, before any write
        except LinregError as exc:
            raise LinregError(f"{path}: {exc}") from None
        reader_accepts(data, path, machine_name, run_id, name)
        loaded.append((path, data, raw))
    store = open_store(store_dir, create=True)
    for path, data, raw in loaded:
        filed = file_run(store, data, machine, raw)
        state = "added" if filed.added else "already stored"
        print(f"{state}: {path} -> {filed.path}")
    return 0


def reader_accepts(data: dict[str, Any], path: Path, machine: str, run_id: str, name: str) -> None:
    """Refuse a run the store's reader would skip: `history add` must not say "added" for it."""
    if parse_run_filename(name) is None:
        raise LinregError(f"{path}: it would be stored as {name[:80]!r}, a name the reader skips")
    try:
        run_of(data, path, machine, run_id)
    except LinregError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise LinregError(f"{path}: malformed run ({type(exc).__name__})") from None


def read_history(store_dir: Path, args: argparse.Namespace) -> int:
    gate = MedianGate.parse(args.fail_on, alpha=args.alpha)
    if args.out is not None:
        check_site_target(args.out)  # before minutes of work, not after
    start = time.monotonic()
    # an export on stdout is the only thing there: the summary lines move to stderr
    say = partial(print, file=sys.stderr) if args.export and to_stdout(args.output) else print
    history = analyze(store_dir, gate, args.repo, InstructionGate.parse(args.fail_on_instructions))
    for problem in history.store.problems:
        sys.stderr.write(f"warning: skipped {problem}\n")
    say(f"history: {len(history.store.runs)} runs, {len(history.store.machines)} machine(s), "
          f"{len(history.commits)} commits, {len(history.trends)} measurements, "
          f"{len(history.steps)} flagged steps ({gate.label})")
    if history.count_trends:
        say(f"history: instruction counts of {len(history.count_trends)} measurements, "
              f"{len(history.count_steps)} flagged steps ({history.count_gate.label})")
    if args.out is not None:
        index = build_site(history, args.out)
        say(f"wrote {index} ({page_weight(args.out) / 1e6:.1f} MB with figures) "
              f"in {time.monotonic() - start:.1f} s")
    if args.export:
        text = json.dumps(export(history, args.export, args.machine), indent=2, allow_nan=False) + "\n"
        if to_stdout(args.output):
            sys.stdout.write(text)
        else:
            write_text_atomic(args.output, text)
            say(f"wrote {args.output} ({args.export})")
    if args.regressions or not (args.out or args.export):
        return print_steps(history, fail=args.regressions)
    return 0


def print_steps(history: Any, fail: bool) -> int:
    """The flagged steps per machine, newest first, of the times and then of the instruction
    counts; 1 when `fail` and a newest run regressed in either."""
    _print_step_list(history.steps, "")
    if history.count_trends:
        print("instruction counts:")
        _print_step_list(history.count_steps, "  ")
    found = [(s, "slower") for s in history.regressions] + \
        [(s, "more instructions per call") for s in history.count_regressions]
    for s, what in found:
        sys.stderr.write(f"REGRESSION: {s.machine}: {s.label} {s.judgement.ratio:.3f}x {what} at "
                         f"{s.new.short_commit} (from {s.base.short_commit})\n")
    return 1 if fail and found else 0


def _print_step_list(steps: list[Any], indent: str) -> None:
    by_machine: dict[str, list[Any]] = {}
    for step in steps:
        by_machine.setdefault(step.machine, []).append(step)
    for machine, listed in sorted(by_machine.items()):
        print(f"{indent}{machine}:")
        for s in listed:
            j = s.judgement
            p = f" p={j.stats.p_value:.2g}" if j.stats and j.stats.p_value == j.stats.p_value else ""
            ci = f" [{j.stats.ci_low:.3f}, {j.stats.ci_high:.3f}]{p}" if j.stats else ""
            env = f" (environment changed: {s.env_change})" if s.env_change else ""
            print(f"{indent}  {s.new.created_utc}  {s.label}  {s.base.short_commit} -> "
                  f"{s.new.short_commit}  {j.ratio:.3f}x{ci}  {j.verdict}{env}")
    if not steps:
        print(f"{indent}no flagged step")
