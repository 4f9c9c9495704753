"""`linreg-bench sweep --config sweep.toml --out DIR`: the tutorial's experiments, as a grid."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.engine.interrupt import sigterm_interrupts
from bench.experiments.spec import (MAX_TRIALS, MAX_TRIALS_WITH_YES, SweepConfigError, load_spec,
                                    trial_configs)
from bench.store.identity import machine_id
from bench.experiments.runner import DEFAULT_TRIAL_TIMEOUT_S, MAX_TRIAL_TIMEOUT_S
from linreg.argtypes import DefaultsHelpFormatter, float_within, positive_int
from linreg.limits import MIN_CHILD_MEMORY_GIB, default_child_memory_gib, physical_memory_gib
from linreg.environment import collect_environment, cpu_count

EXAMPLE = """example sweep.toml (keys are train's long options, with underscores):
  [grid]            # every combination of these
  model = ["parameter", "linear"]
  lr = [0.001, 0.01, 0.1]
  [fixed]           # the same for every trial
  epochs = 300
  # samples = 20        optional: draw this many combinations at random instead of all
  # sample_seed = 0
  # target_test_loss = 0.01   epochs_to_target counts epochs until the test loss is <= this
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep", help="train a grid of settings; rank them; keep the best model",
        formatter_class=lambda prog: DefaultsHelpFormatter(prog, max_help_position=30),
        epilog=EXAMPLE)
    p.add_argument("--config", type=Path, required=True, help="the sweep's TOML file")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for sweep.json, sweep.csv, summary.md, plots, best/")
    p.add_argument("--jobs", type=positive_int, default=cpu_count() or 1,
                   help="trials at a time, each in its own process "
                        "(default: this machine's CPU count, %(default)s here)")
    p.add_argument("--restart", action="store_true",
                   help="discard the finished trials of a different config in --out")
    p.add_argument("--yes", action="store_true",
                   help=f"allow more than {MAX_TRIALS} trials (up to {MAX_TRIALS_WITH_YES})")
    p.add_argument("--trial-timeout-s", type=float_within(1, MAX_TRIAL_TIMEOUT_S), default=DEFAULT_TRIAL_TIMEOUT_S,
                   metavar="S", help="stop the sweep when no trial finishes within S seconds (a hung trial)")
    p.add_argument("--child-memory-gib", type=float_within(MIN_CHILD_MEMORY_GIB, physical_memory_gib()),
                   default=default_child_memory_gib(), metavar="GIB",
                   help="each worker's private memory (RLIMIT_DATA); a trial past it fails, named")
    p.set_defaults(func=cmd_sweep)


def _check_threads(configs: list[dict[str, Any]], jobs: int) -> None:
    cores = cpu_count() or 1
    threads = max(c["threads"] for c in configs)
    if min(jobs, len(configs)) * threads > cores:
        sys.stderr.write(f"warning: {jobs} jobs x {threads} threads over {cores} cores: trials share "
                         "cores (their bits do not change, their train_time_s does)\n")


def cmd_sweep(args: argparse.Namespace) -> int:
    from bench.experiments.best import publish_best
    from bench.experiments.outputs import outputs_are_current, write_outputs
    from bench.experiments.plots import PLOT_FILES, draw_plot
    from bench.experiments.runner import Sweep, run_on_pool, wait_all
    from bench.experiments.timeline import Timeline, describe
    from bench.experiments.trial import ranking_key

    spec = load_spec(args.config)
    count = spec.trial_count()  # before building any trial: the grid may be 10^9 combinations
    if count > MAX_TRIALS_WITH_YES:
        raise SweepConfigError(f"{args.config}: the grid makes {count} trials, over the {MAX_TRIALS_WITH_YES} "
                               f"that even --yes permits; set samples = K")
    if count > MAX_TRIALS and not args.yes:
        raise SweepConfigError(f"{args.config}: the grid makes {count} trials, over the limit of "
                               f"{MAX_TRIALS}; pass --yes to run up to {MAX_TRIALS_WITH_YES}, or set samples = K")
    configs = trial_configs(spec)
    _check_threads(configs, args.jobs)
    sweep = Sweep(spec, args.out, args.restart)
    if not sweep.todo:
        records = [sweep.records[tid] for tid in sweep.configs]
        finished = [r for r in records if r["status"] == "ok"]
        best = min(finished, key=ranking_key) if finished else None
        if outputs_are_current(args.out, records, best, PLOT_FILES):
            sys.stderr.write(f"sweep: all {len(records)} trials of {args.config} are finished and published "
                             f"in {args.out}: nothing to run, nothing written\n")
            return _report(args.out, spec, records, best)
    varied = list(spec.grid)
    # at least as many workers as closing tasks (3 plots, best/), never more than --jobs
    timeline = Timeline(workers=min(args.jobs, max(len(sweep.todo), len(PLOT_FILES) + 1)))

    def work(pool: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        records = sweep.run(pool, timeline, args.trial_timeout_s)
        timeline.closing()
        finished = [r for r in records if r["status"] == "ok"]
        best = min(finished, key=ranking_key) if finished else None
        tasks = [pool.apply_async(draw_plot, (name, args.out, records, varied)) for name in PLOT_FILES]
        if best is not None:
            tasks.append(pool.apply_async(publish_best, (args.out, best)))
        wait_all(tasks, args.trial_timeout_s)
        timeline.closed()
        return records, best

    timeline.pool_open()
    with sigterm_interrupts():  # SIGTERM as Ctrl-C: the pool is terminated, finished trials kept
        records, best = run_on_pool(timeline.workers, work, args.child_memory_gib)
    environment = collect_environment()
    environment["machine_id"] = machine_id()
    last_run = {**timeline.as_json(), "limits": {"trial_timeout_s": args.trial_timeout_s,
                                                 "child_memory_gib": args.child_memory_gib}}
    write_outputs(args.out, spec, records, environment, best, last_run)
    sys.stderr.write(describe(last_run) + "\n")
    return _report(args.out, spec, records, best, "wrote")


def _report(out: Path, spec: Any, records: list[dict[str, Any]], best: dict[str, Any] | None,
            verb: str = "in") -> int:
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "diverged", "failed")}
    print(f"sweep: {len(records)} trials ({counts['ok']} finished, {counts['diverged']} diverged, "
          f"{counts['failed']} failed); {verb} {out}/sweep.json, sweep.csv, summary.md, plots"
          + (", best/" if best else ""))
    if best is not None:
        chosen = ", ".join(f"{k}={best['config'][k]}" for k in spec.grid)
        print(f"best: {chosen}: test loss {best['final_test_loss']:.4g}")
    return 0
