"""`history backfill` and `history find`: the options they add to `history`, and their commands.

    linreg-bench history backfill DIR --commits A..B [--every K | --max N] [bench options]
    linreg-bench history find DIR --commits A..B --measurement KEY [--fail-on median:N%]
    linreg-bench history find DIR --commits A..B --measurement KEY --own-bench [bench options]

Bench options (--quick, --runtimes ...) go to each commit's own `bench` as they are written: an
old commit that no longer understands one fails with that as its reason (a failure record).
Every input is checked before the first worktree is made: a bad range is one `error:` line.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from bench.compare.gate import MedianGate, check_rounds
from bench.history.commits import commit_info, commit_range, repository, sample
from bench.history.store import machine_of_this_host, open_store
from bench.store.identity import check_id
from linreg.errors import LinregError

# (option, nargs) passed through to each commit's `bench`; None: a flag
BENCH_OPTIONS: tuple[tuple[str, str | None], ...] = (
    ("--quick", None), ("--runtimes", "+"), ("--variants", "+"), ("--batch-sizes", "+"),
    ("--train-sizes", "+"), ("--threads", "+"), ("--processes", "?"), ("--devices", "+"),
    ("--isolation", "?"))
WORKFLOW_OPTIONS = ("commits", "every", "max", "checkpoint", "measurement", "rounds", "block_s",
                    "restart_every", "clock", "block_stat", "own_bench", "pairs")
INTERLEAVE_OPTIONS = ("--rounds", "--block-s", "--restart-every", "--clock", "--block-stat")
FIND_ROUNDS, FIND_BLOCK_S = 10, 0.5  # compare --rev's defaults: each step as robust as its gate


def register(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("history backfill DIR / history find DIR")
    g.add_argument("--commits", metavar="A..B", help="the commits after A up to B (first-parent line)")
    picked = g.add_mutually_exclusive_group()
    picked.add_argument("--every", type=int, metavar="K", help="backfill: every K-th commit, counted back from B")
    picked.add_argument("--max", type=int, metavar="N", help="backfill: at most N commits, spread evenly, B included")
    g.add_argument("--checkpoint", type=Path, metavar="MODEL.pth",
                   help="backfill: the model every commit times (default: one trained by this tree)")
    g.add_argument("--measurement", metavar="KEY",
                   help="find: the measurement, as the history names it (inference/eager/cpu/1) "
                        "or as compare --workloads does (infer_eager_1)")
    g.add_argument("--rounds", type=int, help=f"find: interleaved rounds per step (default {FIND_ROUNDS})")
    g.add_argument("--block-s", type=float, help=f"find: seconds per timed block (default {FIND_BLOCK_S})")
    g.add_argument("--clock", choices=("wall", "cpu"),
                   help="find: what times a block (default wall; cpu: the worker thread's CPU time, "
                        "for a machine whose cores higher-priority jobs hold)")
    g.add_argument("--block-stat", choices=("median", "p10"),
                   help="find: a block's sample, its chunks' median (default) or their fastest tenth "
                        "(p10: time lost to other jobs only adds, so it is left out)")
    g.add_argument("--restart-every", type=int, metavar="K",
                   help="find: a fresh worker pair every K rounds (default 2, as compare --rev)")
    g.add_argument("--own-bench", action="store_true",
                   help="find: run each commit's own `bench` (the bench options below, as backfill "
                        "does; base then new, separate runs) instead of both commits' linreg code "
                        "interleaved under this tree's harness: finds steps the measuring code made")
    g.add_argument("--pairs", type=int, metavar="N",
                   help="find --own-bench: at most N pairs of runs a step, N rounds of three for a "
                        "middle commit (default 6; decided from 2)")
    b = p.add_argument_group("backfill and find --own-bench: options passed to each commit's `bench`")
    for option, nargs in BENCH_OPTIONS:
        dest = "bench_" + option[2:].replace("-", "_")
        if nargs is None:
            b.add_argument(option, dest=dest, action="store_true")
        else:
            b.add_argument(option, dest=dest, nargs="+" if nargs == "+" else None, metavar="V")


def bench_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The pass-through options as each commit's `bench` will read them, in one fixed order."""
    out: list[str] = []
    for option, nargs in BENCH_OPTIONS:
        value = getattr(args, "bench_" + option[2:].replace("-", "_"))
        if nargs is None and value:
            out.append(option)
        elif nargs is not None and value is not None:
            out += [option, *(value if isinstance(value, list) else [value])]
    return tuple(out)


def given_options(args: argparse.Namespace) -> list[str]:
    """The backfill/find options this command line gave (all of them default to None/False)."""
    names = [*WORKFLOW_OPTIONS, *("bench_" + o[2:].replace("-", "_") for o, _ in BENCH_OPTIONS)]
    return ["--" + n.removeprefix("bench_").replace("_", "-") for n in names
            if getattr(args, n, None) not in (None, False)]


def check_workflow_options(args: argparse.Namespace, command: str) -> None:
    """Each command takes only its own options: one `error:` line names a stray one."""
    own = {"backfill": {"--commits", "--every", "--max", "--checkpoint",
                        *(o for o, _ in BENCH_OPTIONS)},
           "find": {"--commits", "--measurement", *INTERLEAVE_OPTIONS, "--own-bench"}
           }.get(command, set())
    if command == "find" and args.own_bench:  # its steps are bench runs, not interleaved blocks
        own = {"--commits", "--measurement", "--own-bench", "--checkpoint", "--pairs",
               *(o for o, _ in BENCH_OPTIONS)}
    stray = [o for o in given_options(args) if o not in own]
    if command:
        stray += [f"--{n}" for n in ("out", "regressions", "export") if getattr(args, n)]
    if stray:
        mode = " find --own-bench" if command == "find" and args.own_bench else f" {command}"
        raise LinregError(f"{stray[0]} is not an option of history{mode}" if command
                          else f"{stray[0]} goes with history backfill or history find")


def cmd_backfill(args: argparse.Namespace) -> int:
    from bench.history.backfill import Backfill, run_backfill

    store_dir, repo, (base, listed) = _common(args, "backfill")
    machine = check_id(args.machine, "--machine") if args.machine else machine_of_this_host()
    if machine is None:
        raise LinregError("this machine has no id; give --machine NAME")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise LinregError(f"--checkpoint {args.checkpoint}: no such file")
    chosen = sample(listed, args.every, args.max)
    store = open_store(store_dir, create=True)
    print(f"backfill: {len(listed)} commits after {base.short} up to {listed[-1][:10]}; "
          f"{len(chosen)} chosen; each runs its own `bench {' '.join(bench_options(args))}`")
    plan = Backfill(store, repo, chosen, bench_options(args), machine,
                    args.checkpoint.resolve() if args.checkpoint else None)
    return run_backfill(plan)


def cmd_find(args: argparse.Namespace) -> int:
    from bench.compare.interleave import InterleaveConfig
    from bench.history.find import bisect, interleaved_steps, workload_of

    if not args.measurement:
        raise LinregError("history find needs --measurement KEY")
    if args.own_bench:
        return _find_own_bench(args)
    workload = workload_of(args.measurement)
    gate = MedianGate.parse(args.fail_on, alpha=args.alpha)
    rounds = FIND_ROUNDS if args.rounds is None else args.rounds
    check_rounds(rounds, gate.alpha)
    config = InterleaveConfig(rounds=rounds, block_s=FIND_BLOCK_S if args.block_s is None else args.block_s,
                              workloads=(workload,), clock=args.clock or "wall",
                              block_stat=args.block_stat or "median",
                              restart_every=2 if args.restart_every is None else args.restart_every)
    _, repo, (base, listed) = _common(args, "find")
    commits = [commit_info(repo, sha) for sha in listed]
    print(f"find: {args.measurement} ({workload}), {gate.label}, {config.rounds} rounds of "
          f"{config.block_s:g} s blocks ({config.clock} clock, {config.block_stat}) per step "
          f"(an inconclusive one again with {2 * rounds})")
    again = interleaved_steps(repo, workload, replace(config, rounds=2 * rounds), gate)
    return bisect(base, commits, interleaved_steps(repo, workload, config, gate), again=again)


def _find_own_bench(args: argparse.Namespace) -> int:
    """find --own-bench: every step pairs of runs of the commits' own `bench`, the runs the unit."""
    import tempfile

    from bench.history.backfill import train_checkpoint
    from bench.history.own_bench import (MAX_PAIRS, RUNS_ALPHA, bisect_runs, history_key, own_bench_measure,
                                         paired_runs, placed_runs)

    key = history_key(args.measurement)
    gate = MedianGate.parse(args.fail_on, alpha=args.alpha)
    alpha = RUNS_ALPHA if args.alpha is None else gate.alpha
    pairs = MAX_PAIRS if args.pairs is None else args.pairs
    if pairs < 2:
        raise LinregError(f"--pairs {pairs}: a step needs at least 2 pairs of runs (a run-to-run spread)")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise LinregError(f"--checkpoint {args.checkpoint}: no such file")
    _, repo, (base, listed) = _common(args, "find")
    commits = [commit_info(repo, sha) for sha in listed]
    options = bench_options(args)
    print(f"find: {key}, median:{gate.threshold * 100:g}% at p<{alpha:g} over runs (Welch's t on "
          f"each run's host-normalised ratio where every run of the step has one, else its median "
          f"of draw medians); each step runs the commits' own `bench "
          f"{' '.join(options)}`: the ends in alternating pairs, each middle commit in rounds "
          f"between both ends, 2 to {pairs} until decided")
    with tempfile.TemporaryDirectory(prefix="linreg-find-ckpt-") as scratch:
        model: list[Path] = [args.checkpoint.resolve()] if args.checkpoint else []

        def checkpoint() -> Path:  # trained by this tree once, on first use
            if not model:
                model.append(train_checkpoint(Path(scratch) / "train"))
            return model[0]
        measure = own_bench_measure(repo, key, options, checkpoint)
        return bisect_runs(base, commits, paired_runs(measure, gate, alpha, pairs),
                           placed_runs(measure, alpha, pairs))


def _common(args: argparse.Namespace, command: str) -> tuple[Path, Path, tuple]:
    """(store folder, repository, (A, hashes of A..B)) after every check of the arguments."""
    check_workflow_options(args, command)
    if len(args.args) != 2:
        raise LinregError(f"history {command} takes one store folder, got {len(args.args) - 1}")
    if not args.commits:
        raise LinregError(f"history {command} needs --commits A..B")
    store_dir = Path(args.args[1])
    if command == "find" or store_dir.exists():
        open_store(store_dir, create=command == "backfill")  # a folder that is not a store: refused now
    repo = repository(args.repo)
    return store_dir, repo, commit_range(repo, args.commits)
