"""`linreg-bench compare`: two benchmark files, or this tree against a git revision measured interleaved.

Exit codes: 0 nothing regressed, 1 a significant regression beyond the threshold (or a slowdown
beyond it with too few samples to tell, a parity failure, a crash in NEW, or a measurement BASE
has and NEW lost), 2 bad input (one `error: ...` line, raised as LinregError and printed by bench.cli).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from bench.compare import (DEFAULT_ALPHA, DEFAULT_FAIL_ON, STABLE_HOST_ALPHA, Comparison, MedianGate, Verdict, compare_files,
                           load_bench_file, render_json, render_markdown, render_text)
from bench.compare.counts import DEFAULT_INSTRUCTION_FAIL_ON, METRICS, InstructionGate, choose_metric
from bench.compare.render import to_json
from bench.compare.gate import check_rounds
from bench.compare.memory import parse_percent
from linreg.errors import LinregError
from linreg.destinations import check_output_file
from linreg.files import write_text_atomic
from linreg.untrusted import printable


MAX_RESAMPLES = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare benchmark files (BASE against each NEW), or this tree against a git revision (--rev)",
        description=(
            "Compare BASE and NEW (results.json v1 or pytest-benchmark --benchmark-json files), or "
            "measure this tree against a git revision interleaved in one job (--rev). A change counts "
            "only when the ratio of medians is beyond --fail-on AND Mann-Whitney U gives p < --alpha. "
            "Exit 0: no regression; 1: regression; 2: bad input."
        ),
    )
    p.add_argument("base", nargs="?", help="baseline file (results.json or pytest-benchmark JSON)")
    p.add_argument("new", nargs="*", help="candidate file(s): each is compared with BASE")
    p.add_argument("--rev", metavar="BASE_REV",
                   help="measure this working tree against BASE_REV (checked out into a temporary "
                        "git worktree), interleaved in one job: the noise-robust gate; with "
                        "--metric instructions both trees are counted under valgrind instead")
    p.add_argument("--fail-on", default=None, metavar="median:N%",
                   help="regression threshold on the ratio of medians (default "
                        f"{DEFAULT_FAIL_ON.replace('%', '%%')} for time, "
                        f"{DEFAULT_INSTRUCTION_FAIL_ON.replace('%', '%%')} for instructions)")
    p.add_argument("--metric", choices=list(METRICS), default=None,
                   help="what the gate compares: time, or instructions (Callgrind counts, from "
                        "bench --metric instructions); default: instructions when both files have "
                        "them, else time. Wall time is reported either way; never mixed in one verdict")
    p.add_argument("--alpha", type=float, default=None,
                   help=f"significance level of the Mann-Whitney U test, one for every figure (default "
                        f"{DEFAULT_ALPHA}, as asv; {STABLE_HOST_ALPHA} on host ratios against a stable reference)")
    p.add_argument("--fail-on-memory", metavar="N%", default=None,
                   help="also exit 1 when a peak memory figure grew beyond N%% (and 1 MiB); "
                        "memory changes are listed either way")
    p.add_argument("--raw", "--raw-medians", action="store_true",
                   help="gate on the raw samples, not the draws (files without draws always do)")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept an interrupted run (results.json \"partial\": true) as BASE")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="a Markdown table, for PR comments")
    fmt.add_argument("--json", action="store_true", help="JSON, for machines")
    p.add_argument("--output", "-o", metavar="FILE", help="also write the report to FILE")
    g = p.add_argument_group("interleaved comparison (--rev)")
    g.add_argument("--rounds", type=int, default=10, help="alternating rounds per workload (default 10)")
    g.add_argument("--restart-every", type=int, default=2, metavar="K",
                   help="start a fresh worker pair every K rounds, so a slow process is noise "
                        "between samples rather than a bias of one side (default 2)")
    g.add_argument("--block-s", type=float, default=0.5, help="seconds per timed block (default 0.5)")
    g.add_argument("--threads", type=int, default=1, help="torch intra-op threads in both workers (default 1)")
    g.add_argument("--workloads", default=None,
                   help="comma-separated subset of the interleaved workloads (default: all)")
    g.add_argument("--save-dir", metavar="DIR",
                   help="write base.json and new.json (results.json v1) of the interleaved run to DIR")
    p.set_defaults(func=cmd_compare)


def _render(c: Comparison, args: argparse.Namespace) -> str:
    if args.json:
        return render_json(c)
    if args.markdown:
        return render_markdown(c)
    return render_text(c)


def _render_all(comparisons: list[Comparison], args: argparse.Namespace) -> str:
    """One report per NEW file; JSON of several NEW files is {"comparisons": [...], "exit_code"}."""
    if len(comparisons) == 1:
        return _render(comparisons[0], args)
    if args.json:
        return json.dumps({"comparisons": [to_json(c) for c in comparisons],
                           "exit_code": max(c.exit_code for c in comparisons)},
                          indent=2, default=str) + "\n"
    return "\n".join(_render(c, args) for c in comparisons)


def _gate(metric: str, args: argparse.Namespace) -> MedianGate | InstructionGate:
    """The gate of one metric: its own default threshold unless --fail-on names one."""
    if metric == "instructions":
        return InstructionGate.parse(args.fail_on or DEFAULT_INSTRUCTION_FAIL_ON)
    return MedianGate.parse(args.fail_on or DEFAULT_FAIL_ON, alpha=args.alpha)


def _count_revision(args: argparse.Namespace) -> Comparison:
    """`--rev BASE_REV --metric instructions`: both trees counted under valgrind (rev_counts.py)."""
    if args.base or args.new:
        raise LinregError("give either BASE NEW files or --rev BASE_REV, not both")
    from bench.compare.interleave_driver import WORKLOADS
    from bench.compare.rev_counts import count_revision

    names = tuple(w.strip() for w in args.workloads.split(",")) if args.workloads else tuple(WORKLOADS)
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        raise LinregError(f"unknown workload {unknown[0]!r} (choose from {', '.join(WORKLOADS)})")
    return count_revision(args.rev, names, _gate("instructions", args), args.save_dir)


def cmd_compare(args: argparse.Namespace) -> int:
    if args.output:
        check_output_file(args.output, "-o")  # before minutes of --rev: a device or link is never replaced
    gate = MedianGate.parse(args.fail_on or DEFAULT_FAIL_ON, alpha=args.alpha)  # checked up front
    fail_on_memory = None if args.fail_on_memory is None else parse_percent(args.fail_on_memory)
    if args.rev and args.metric != "instructions":  # interleaving gives one sample per side per round
        check_rounds(args.rounds, gate.alpha)
    if not 100 <= args.resamples <= MAX_RESAMPLES:  # past the max, the bootstrap runs for hours
        raise LinregError(f"--resamples must be within [100, {MAX_RESAMPLES}], got {args.resamples}")
    if args.rev and args.metric == "instructions":  # counted, not timed: nothing to interleave
        comparisons = [_count_revision(args)]
    elif args.rev:
        if args.base or args.new:
            raise LinregError("give either BASE NEW files or --rev BASE_REV, not both")
        from bench.compare.interleave import InterleaveConfig, compare_revision

        config = InterleaveConfig(
            rounds=args.rounds, block_s=args.block_s, threads=args.threads,
            restart_every=args.restart_every,
            workloads=tuple(w.strip() for w in args.workloads.split(",")) if args.workloads else None,
        )
        comparisons = [compare_revision(args.rev, config, gate, save_dir=args.save_dir,
                                        resamples=args.resamples)]
    else:
        if not (args.base and args.new):
            raise LinregError("compare needs two files, BASE and NEW (or --rev BASE_REV)")
        base = load_bench_file(args.base)
        news = [load_bench_file(path) for path in args.new]  # every file checked before any output
        with np.errstate(all="ignore"):  # values near 1e308 overflow a ratio to inf: the verdict says
            # so ("infx the baseline"); numpy's RuntimeWarning on stderr only broke the one-line rule
            comparisons = [compare_files(base, new, _gate(choose_metric(args.metric, base, new), args),
                                         resamples=args.resamples, raw=args.raw,
                                         allow_partial=args.allow_partial) for new in news]

    # The loud part: differing environments go to stderr as well, whatever the output format.
    prefix = {id(c): f"{c.new.path}: " if len(comparisons) > 1 else "" for c in comparisons}
    for c in comparisons:
        for w in c.warnings:
            sys.stderr.write(printable(f"WARNING: {prefix[id(c)]}{w}") + "\n")
    report = printable(_render_all(comparisons, args))  # names from the files: no terminal escapes
    sys.stdout.write(report)
    if args.output:
        write_text_atomic(args.output, report)
    for c in comparisons:
        for r in c.regressions:
            what = r.note
            if r.stats and r.verdict == Verdict.SLOWER:
                what = (f"{r.stats.ratio:.3f}x the baseline's instructions per call"
                        if c.gate.metric == "instructions" else
                        f"{r.stats.ratio:.3f}x the baseline median, p={r.stats.p_value:.2g}")
            sys.stderr.write(printable(f"REGRESSION: {prefix[id(c)]}{r.label} ({r.verdict}: {what})") + "\n")
    return max(max(c.exit_code for c in comparisons),
               max(_memory_verdict(c, fail_on_memory, prefix[id(c)]) for c in comparisons))


def _memory_verdict(comparison: Comparison, fail_on: float | None, prefix: str = "") -> int:
    """1 when --fail-on-memory is given and some peak grew beyond it; the culprits on stderr."""
    if fail_on is None:
        return 0
    grown = [m for m in comparison.memory if m.exceeds(fail_on)]
    for m in grown:
        sys.stderr.write(printable(f"MEMORY REGRESSION: {prefix}{m.label} ({m.metric} {m.base_bytes / 2**20:.1f} "
                                   f"MiB -> {m.new_bytes / 2**20:.1f} MiB, beyond {fail_on:g}%)") + "\n")
    return 1 if grown else 0
