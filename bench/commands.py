"""`linreg-bench bench` and `linreg-bench run`: argparse subcommands and their cmd_* functions."""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from bench.engine.devices import split_present
from bench.history.cli import file_bench_run, prepare_store
from bench.runtimes import INFERENCE_RUNTIMES
from bench.suite import DEFAULT_PROCESSES, QUICK_PROCESSES, SuiteConfig, default_threads
from bench.training import TRAINING_VARIANTS
from linreg.argtypes import float_within, int_within, positive_int
from linreg.errors import LinregError
from linreg.limits import MIN_CHILD_MEMORY_GIB, default_child_memory_gib, physical_memory_gib


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder for results.json/csv, plots, report.md")
    p.add_argument("--quick", action="store_true",
                   help="under a minute: sizes 1/10^3/10^5 and N 40/10^4, short timings, no torch.compile")
    p.add_argument("--threads", type=int_within(1, MAX_THREADS), nargs="+", default=[default_threads()], metavar="N",
                   help="intra-op threads for torch AND onnxruntime, pinned and recorded (default 1); "
                        "several (--threads 1 2): every measurement at each, and the report shows scaling")
    p.add_argument("--devices", nargs="+", default=None, metavar="DEVICE",
                   help="devices to measure (default: those of cpu cuda this machine has, the others named "
                        "in one line; a device named here but absent is recorded as skipped)")
    p.add_argument("--runtimes", nargs="+", default=None, metavar="RUNTIME",
                   help=f"inference runtimes (default: all of {', '.join(INFERENCE_RUNTIMES)}; "
                        "installed plug-ins by name)")
    p.add_argument("--variants", nargs="+", default=None, metavar="VARIANT",
                   help=f"training variants (default: all of {', '.join(TRAINING_VARIANTS)}; "
                        "installed plug-ins by name)")
    p.add_argument("--isolation", choices=["runtime", "fork", "none"], default=None,
                   help="fork: workers (and their companions) forked from one preloaded process, "
                        "no 2.5 s of imports each (default where the platform has a forkserver); "
                        "runtime: a fresh interpreter per worker; none: all in this process")
    p.add_argument("--batch-sizes", type=size_arg, nargs="+", default=None, metavar="N",
                   help="inference batch sizes (default: 1 10 1000 10^5 10^6 10^7; --quick 1 1000 10^5)")
    p.add_argument("--train-sizes", type=size_arg, nargs="+", default=None, metavar="N",
                   help="training sizes N (default: 40 10^4 10^6 10^7; --quick 40 10^4)")
    p.add_argument("--processes", type=int_within(1, MAX_PROCESSES), default=None, metavar="K",
                   help=f"worker processes per runtime and variant, interleaved round-robin "
                        f"(default {DEFAULT_PROCESSES}, --quick {QUICK_PROCESSES})")
    p.add_argument("--child-memory-gib", type=float_within(MIN_CHILD_MEMORY_GIB, physical_memory_gib()),
                   default=None, metavar="GIB",
                   help=f"each worker's and LoadGen child's private memory (RLIMIT_DATA), recorded; a "
                        f"worker past it: its records are skips naming it (default {default_child_memory_gib():g})")
    p.add_argument("--metric", choices=["time", "instructions"], default="time",
                   help="time: wall time only (default); instructions: also count each CPU "
                        "measurement's instructions per call under Callgrind (needs valgrind; "
                        "~1.5 min of torch import per runtime and variant under valgrind)")
    p.add_argument("--instruction-processes", type=positive_int, default=2, metavar="K",
                   help="valgrind workers at once for --metric instructions (default 2: counts do "
                        "not depend on the machine's load)")
    p.add_argument("--history", type=Path, metavar="DIR",
                   help="also file the run into the history store DIR (see linreg-bench history)")
    p.add_argument("--config", type=Path, metavar="FILE.toml",
                   help="settings from a TOML file (keys: these options' long names with underscores, "
                        "and a [timing] table; see `linreg-bench config --show`); the command line wins")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny, for tests
    p.set_defaults(config_parser=p, timing_overrides={}, config_file=None)


MAX_PROCESSES = 64      # worker processes per runtime and variant: 10^30 was accepted and never ended
MAX_THREADS = 1024      # as train's --threads
BYTES_PER_ROW = 64      # x, y and the runtimes' temporaries: a generous float32 footprint per row


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: no limit from here


def size_arg(text: str) -> int:
    """argparse type: a size >= 1 whose data fits in this machine's memory."""
    size = positive_int(text)
    memory = physical_memory_bytes()
    if size * BYTES_PER_ROW > memory:
        raise argparse.ArgumentTypeError(
            f"{size} rows need about {size * BYTES_PER_ROW / 2**30:.0f} GiB, over this machine's "
            f"{memory / 2**30:.0f} GiB of memory")
    return size


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="time training epochs and inference runtimes")
    _add_common(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--export-dir", type=Path, help="an export folder (linreg-bench export)")
    source.add_argument("--checkpoint", type=Path,
                        help="a model.pth: exported (and verified) into OUT/export first")
    p.add_argument("--run-unchecked-onnx", action="store_true",
                   help="time an ONNX graph that fails the exporter-shape checks anyway, only in worker "
                        "processes, under worker_timeout_s and --child-memory-gib (both recorded)")
    p.set_defaults(func=cmd_bench, run_unchecked_onnx=False)

    p = subparsers.add_parser("run", help="run the whole pipeline: train, export, verify, bench, report")
    _add_common(p)
    p.set_defaults(func=cmd_run)


def register_export_speed(subparsers: argparse._SubParsersAction) -> None:
    """`export-speed`: ORT on the naive vs the exported graph vs numpy (bench/runtimes/graph_speed.py)."""
    p = subparsers.add_parser("export-speed", help="time ONNX Runtime on the naive and the exported ONNX graph "
                                                    "against numpy, at large batch")
    p.add_argument("--batches", type=positive_int, nargs="+", default=None, help="default: 1000000 10000000")
    p.add_argument("--repeats", type=positive_int, default=None, help="timed calls per variant (default 20)")
    p.add_argument("--yes", action="store_true",  # bench/runtimes/graph_speed.py YES_FACTOR
                   help="run past the time limits, up to 100x (1e+07 repeats, 5e+11 element-calls: hours)")
    p.set_defaults(func=cmd_export_speed)


def cmd_export_speed(args: argparse.Namespace) -> int:
    from bench.runtimes.graph_speed import main as speed_main

    argv: list[str] = []
    if args.batches:
        argv += ["--batches", *map(str, args.batches)]
    if args.repeats:
        argv += ["--repeats", str(args.repeats)]
    if args.yes:
        argv.append("--yes")
    return speed_main(argv)


def suite_config_from_args(args: argparse.Namespace) -> SuiteConfig:
    from bench.pipeline import smoke_config

    if args.smoke:
        config = smoke_config()
    elif args.quick:
        config = SuiteConfig.quick()
    else:
        config = SuiteConfig()
    overrides: dict[str, object] = {"threads": tuple(args.threads)}
    if not args.smoke:
        overrides["processes"] = args.processes or (QUICK_PROCESSES if args.quick else DEFAULT_PROCESSES)
    elif args.processes:
        overrides["processes"] = args.processes
    if args.batch_sizes:
        overrides["batch_sizes"] = tuple(args.batch_sizes)
    if args.train_sizes:
        overrides["train_sizes"] = tuple(args.train_sizes)
    if args.devices:
        overrides["devices"] = tuple(args.devices)
    else:  # the default: what this machine has; the others are one line, not a skip per size
        overrides["devices"], overrides["absent_devices"] = split_present(config.devices)
    if args.runtimes:
        overrides["runtimes"] = tuple(args.runtimes)
    if args.variants:
        overrides["variants"] = tuple(args.variants)
    if args.isolation:
        overrides["isolation"] = args.isolation
    overrides["metric"] = args.metric
    if getattr(args, "child_memory_gib", None):
        overrides["child_memory_gib"] = args.child_memory_gib
    overrides["instruction_processes"] = args.instruction_processes
    if args.timing_overrides:  # a --config file's [timing] table
        try:
            overrides["timing"] = replace(config.timing, **args.timing_overrides)
        except ValueError as exc:  # e.g. rounds = 0: TimingConfig's own check, one error line
            path = (args.config_file or {}).get("path", "--config")
            raise LinregError(f"{path}: key timing: {exc}") from None
    return replace(config, **overrides)  # SuiteConfig validates names (SuiteError: exit 2)


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.pipeline import use_inductor_cache_dir

    use_inductor_cache_dir()  # before anything imports torch._inductor (exporting does)
    from bench.pipeline import bench, exit_status, export_checkpoint, prepare_out, summary_line
    from bench.runtimes.base import Artifacts
    from bench.store.results import measurements_of

    config = suite_config_from_args(args)
    if args.run_unchecked_onnx:  # a stranger's graph: only ever in a bounded worker, and recorded
        config = replace(config, unchecked_onnx=True)
        print(f"bench: the ONNX graph runs unchecked, in workers limited to {config.worker_timeout_s:g} s "
              f"and {config.child_memory_gib:g} GiB (--run-unchecked-onnx)")
    prepare_store(args.history)  # a bad --history fails before minutes of measuring
    prepare_out(args.out)  # a user's folder is refused before export writes OUT/export into it
    if args.checkpoint is not None:
        artifacts = export_checkpoint(args.checkpoint, args.out / "export")
    else:
        artifacts = Artifacts.from_export_dir(args.export_dir, unchecked_onnx=config.unchecked_onnx)
    results = bench(args.out, config, artifacts, {"pipeline": "bench", "quick": args.quick,
                                                     "config_file": args.config_file})
    measurements = measurements_of(results)
    print(f"{summary_line(measurements)}; wrote {args.out}/results.json, results.csv, report.md")
    file_bench_run(args.history, args.out, results)
    return exit_status(measurements)  # 1 on parity failures or nothing timed, all files written


def cmd_run(args: argparse.Namespace) -> int:
    from bench.pipeline import use_inductor_cache_dir

    use_inductor_cache_dir()  # before anything imports torch._inductor (exporting does)
    from bench.pipeline import (SMOKE_LOADGEN_SKIP, exit_status, run_pipeline,
                                summary_line)
    from bench.scenarios.run_pass import PASS_DURATION_S, QUICK_PASS_DURATION_S
    from bench.store.results import measurements_of

    config = suite_config_from_args(args)
    prepare_store(args.history)  # a bad --history fails before minutes of measuring
    loadgen = SMOKE_LOADGEN_SKIP if args.smoke else QUICK_PASS_DURATION_S if args.quick else PASS_DURATION_S
    results = run_pipeline(args.out, config, quick=args.quick, loadgen=loadgen,
                           config_file=args.config_file)
    measurements = measurements_of(results)
    print(f"{summary_line(measurements)}; wrote {args.out}/results.json, results.csv, report.md")
    file_bench_run(args.history, args.out, results)
    return exit_status(measurements)  # 1 on parity failures or nothing timed, all files written
