"""`linreg-bench loadgen`: one runtime under the official MLPerf LoadGen, in one scenario.

Exit codes: 0 VALID; 1 INVALID, accuracy failure or a crashed runtime (after loadgen.json and
LoadGen's logs are written: that is the verdict CI gates on); 2 bad input (one `error:` line,
nothing written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.engine.units import format_duration
from linreg.argtypes import positive_float, positive_int
from linreg.destinations import claim_folder, json_record_is_ours
from linreg.errors import LinregError

# server: the p99 bound when none is given. The model answers in ~10 us, but a sleeping thread on a
# busy 2-vCPU VM wakes in up to several ms, and server queries wait on such wake-ups.
DEFAULT_BOUND_MS = 10.0


class LoadgenInputError(LinregError):
    exit_code = 2


# A loadgen folder from before OWNER_MARKER: its loadgen.json says it is ours.
LOADGEN_RECORD = json_record_is_ours("loadgen.json", ("scenario", "runtime", "valid"))


def register(subparsers: argparse._SubParsersAction) -> None:
    from bench.scenarios.settings import SCENARIOS, SERVER_BATCHING

    p = subparsers.add_parser("loadgen", help="run one runtime under MLPerf LoadGen (single-stream, "
                              "multi-stream, server, offline): VALID/INVALID, accuracy checked")
    p.add_argument("--export-dir", type=Path, required=True, help="an export folder (linreg-bench export)")
    p.add_argument("--runtime", required=True, help="a runtime of the registry (built-in or plug-in)")
    p.add_argument("--scenario", required=True, choices=list(SCENARIOS), help="the MLPerf scenario to run")
    p.add_argument("--target-qps", type=positive_float, help="server: offered rate; offline: expected rate")
    p.add_argument("--latency-bound-ms", type=positive_float,
                   help=f"server: the p99 latency bound (default {DEFAULT_BOUND_MS:g} ms)")
    p.add_argument("--duration-s", type=positive_float, default=10.0, help="LoadGen's minimum duration")
    p.add_argument("--threads", type=positive_int, default=1, help="intra-op threads of the runtime")
    p.add_argument("--device", default="cpu", help="device of the runtime (cpu, cuda, cuda:N)")
    p.add_argument("--server-batching", choices=SERVER_BATCHING, default="inline",
                   help="server: each group of due queries LoadGen coalesces runs as one batch in its "
                        "issue call (inline, the default: no hand-over between threads), or a batching "
                        "thread runs what is pending (worker)")
    p.add_argument("--find-peak", action="store_true",
                   help="server: search the highest QPS that stays VALID; report the p99-vs-QPS curve")
    p.add_argument("--out", type=Path, required=True, help="folder for loadgen.json and LoadGen's logs")
    p.set_defaults(func=cmd_loadgen)


def config_from_args(args: argparse.Namespace) -> Any:
    """A validated LoadgenConfig, or LoadgenInputError naming what is wrong."""
    from bench.runtimes import runtime_names
    from bench.scenarios.settings import LoadgenConfig

    if args.runtime not in runtime_names():
        raise LoadgenInputError(f"unknown runtime {args.runtime!r} (choose from {', '.join(runtime_names())})")
    if args.find_peak and args.scenario != "server":
        raise LoadgenInputError("--find-peak needs --scenario server")
    bound = args.latency_bound_ms
    if args.scenario == "server":
        bound = bound or DEFAULT_BOUND_MS
        if args.target_qps is None and not args.find_peak:
            raise LoadgenInputError("--scenario server needs --target-qps (or --find-peak)")
    target = args.target_qps if args.target_qps or not args.find_peak else 1000.0
    try:
        return LoadgenConfig(args.scenario, args.runtime, args.device, args.duration_s, target, bound,
                             args.threads, server_batching=args.server_batching)
    except ValueError as exc:
        raise LoadgenInputError(str(exc)) from None


def cmd_loadgen(args: argparse.Namespace) -> int:
    from bench.engine.devices import device_skip_reason
    from bench.runtimes.base import Artifacts

    config = config_from_args(args)
    if not args.export_dir.is_dir():
        raise LoadgenInputError(f"export folder {args.export_dir} does not exist")
    artifacts = Artifacts.from_export_dir(args.export_dir)  # a bad manifest: one error line
    reason = device_skip_reason(config.device)
    if reason:
        raise LoadgenInputError(reason)
    claim_folder(args.out, "loadgen", LOADGEN_RECORD)  # a user's folder is refused before LoadGen runs
    result = run_peak(config, artifacts, args.out) if args.find_peak else run_one(config, artifacts, args.out)
    return report(result, args.out)


def run_one(config: Any, artifacts: Any, out: Path) -> dict[str, Any]:
    from bench.scenarios.runner import run_child, write_loadgen_json

    result = run_child(config, artifacts, out)
    write_loadgen_json(out, result, config)
    return result


def run_peak(config: Any, artifacts: Any, out: Path) -> dict[str, Any]:
    """The peak search; loadgen.json holds the best VALID probe's figures and the whole curve."""
    from bench.report.latency_plots import plot_peak_curve
    from bench.scenarios.peak import copy_best_logs, search_peak
    from bench.scenarios.runner import LOG_FILES, run_child, write_loadgen_json

    def probe(c: Any, d: Path) -> dict[str, Any]:
        r = run_child(c, artifacts, d)
        sys.stderr.write(f"loadgen: server at {c.target_qps:.6g} QPS: {'VALID' if r['valid'] else 'INVALID'}"
                         f" (p99 {_us(r.get('latency_s'), 'p99')})\n")
        return r

    peak = search_peak(config, out, probe, config.target_qps)
    copy_best_logs(out, peak, LOG_FILES)
    best = peak.pop("best") or {**peak["curve"][-1], "scenario": "server", "runtime": config.runtime,
                                "valid": False, "reasons": ["no offered QPS was VALID"]}
    result = {**best, "valid": bool(peak["peak_qps"]), "find_peak": peak}
    if not peak["peak_qps"]:
        result["reasons"] = ["no offered QPS was VALID under the bound"]
    plot = plot_peak_curve(peak["curve"], config.latency_bound_ms * 1e-3, out / "peak_curve.png")
    result["find_peak"]["plot"] = plot.name if plot else None
    write_loadgen_json(out, result, config)
    return result


def _us(latency: dict[str, Any] | None, key: str) -> str:
    value = (latency or {}).get(key)
    return format_duration(value, "µs", none="n/a")


def report(result: dict[str, Any], out: Path) -> int:
    """One summary line on stdout, the reasons on stderr; 0 VALID, 1 otherwise."""
    from bench.scenarios.runner import verdict_lines

    lat = result.get("latency_s")
    verdict = "VALID" if result["valid"] else ("FAILED" if result.get("failed") else "INVALID")
    peak = result.get("find_peak")
    head = f"peak {peak['peak_qps']:.6g} QPS, " if peak and peak.get("peak_qps") else ""
    qps = result.get("qps")
    print(f"loadgen {result['scenario']} {result['runtime']}: {verdict}; {head}"
          f"p50 {_us(lat, 'p50')}, p99 {_us(lat, 'p99')}, p99.9 {_us(lat, 'p999')}, "
          f"{'n/a' if qps is None else f'{qps:.6g}'} QPS; wrote {out}/loadgen.json")
    for line in verdict_lines(result):
        sys.stderr.write(line + "\n")
    return 0 if result["valid"] else 1
