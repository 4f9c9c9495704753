"""Launch outcomes as results.json records: `train_epoch` measurements with runtime `ddp`.

One record per (world size, N): the per-epoch time of the slowest rank (its median is the epoch
time), the all-reduce's share of it, rank 0's parameters against the single-process loop, the
host's cores against the ranks' threads; or a skip record saying why that world size did not
run, or failed. Scaling efficiency, time(1) / (k x time(k)), is added once all sizes are in.
"""
from __future__ import annotations

import os
import statistics
from dataclasses import replace
from typing import Any

from bench.distributed.config import DdpConfig
from bench.distributed.launcher import LaunchOutcome
from bench.distributed.parity import ddp_parity, rank_spread
from bench.engine.measurement import Measurement, Spec
from bench.engine.timing import clock_resolution_s, skipped, stability_warnings
from bench.report.scaling import DDP_RUNTIME
from linreg.environment import cpu_count

RUNTIME = DDP_RUNTIME  # "ddp": the report's section and figure find the records by it
TIMED = ("train_epoch under DistributedDataParallel: one full-batch step (forward, L1 loss, "
         "backward with the gradient all-reduce, SGD step), ranks started together by a barrier; "
         "each sample is the slowest rank's time")


def spec_of(config: DdpConfig, world_size: int, n: int) -> Spec:
    return Spec("train_epoch", RUNTIME, config.device, n, world_size)


def plan_skip_reason(config: DdpConfig, world_size: int, n: int) -> str | None:
    """Why (world size, N) cannot run as asked here, or None."""
    if world_size % config.nnodes:
        return f"world size {world_size} does not split over {config.nnodes} nodes equally"
    if n % world_size:
        return f"N={n} does not split into {world_size} equal shards"
    local = world_size // config.nnodes
    if config.device == "cuda" and local > config.gpu_count:
        return (f"world size {world_size} needs {local} GPUs on this node (one per rank), "
                f"{config.gpu_count} present")
    return None


def host_extra(config: DdpConfig, world_size: int) -> dict[str, Any]:
    """Cores against ranks x threads: what a reader needs to see that workers share cores."""
    local = world_size // config.nnodes
    cpus = cpu_count() or 1
    return {"world_size": world_size, "backend": config.resolved_backend, "nnodes": config.nnodes,
            "nproc_per_node": local, "threads": config.threads, "host_cpus": cpus,
            "gpu_count": config.gpu_count, "ranks_share_cores": local * config.threads >= cpus,
            "loadavg_1m": _loadavg()}


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _core_warning(extra: dict[str, Any]) -> str | None:
    if not extra["ranks_share_cores"]:
        return None
    ranks, threads, cpus = extra["nproc_per_node"], extra["threads"], extra["host_cpus"]
    return (f"workers share cores: {ranks} rank(s) x {threads} thread(s) on {cpus} CPU(s), with "
            f"gloo's threads, torchrun and the rest of the host; epoch times include that contention")


def measured(config: DdpConfig, outcome: LaunchOutcome, size: dict[str, Any],
             reference: list[float], extra: dict[str, Any]) -> Measurement:
    """The record of one N of a successful launch."""
    epochs = list(zip(*size["rank_epoch_s"]))  # per epoch: every rank's seconds
    slowest = tuple(max(e) for e in epochs)
    reduce_per_epoch = [statistics.fmean(e) for e in zip(*size["rank_allreduce_s"])]
    isolated = [max(r) for r in zip(*size["rank_isolated_allreduce_s"])]
    params = size["rank_parameters"]
    parity = ddp_parity(reference, params, config.total_epochs)
    median = statistics.median(slowest)
    allreduce = statistics.median(reduce_per_epoch)
    extra = {**extra, "timed": TIMED, "epochs": config.epochs, "warmup_epochs": config.warmup_epochs,
             "shard": size["shard"],
             "rank_epoch_median_s": [statistics.median(r) for r in size["rank_epoch_s"]],
             "allreduce_median_s": allreduce,
             "allreduce_share": allreduce / median if median > 0 else None,
             "allreduce_isolated_median_s": statistics.median(isolated),
             "allreduce_bytes": size["allreduce_bytes"],
             "minor_faults_per_call": max(size.get("rank_minor_faults_per_epoch") or [float("nan")]),
             "ranks_identical": all(p == params[0] for p in params[1:]),
             "rank_max_abs_diff": rank_spread(params),
             "launch_s": outcome.wall_s, "rendezvous": outcome.endpoint,
             "port_retries": outcome.port_retries}
    warnings = stability_warnings(slowest, 1, config.epochs, clock_resolution_s())
    core = _core_warning(extra)
    return Measurement(spec_of(config, outcome.world_size, size["n"]), slowest, 1, parity,
                       tuple(warnings + ([core] if core else [])), None, extra)


def outcome_records(config: DdpConfig, outcome: LaunchOutcome, sizes: list[int],
                    references: dict[int, list[float]], extra: dict[str, Any]) -> list[Measurement]:
    """Every N of one launch: measured, or a failure record naming the world size and why."""
    if outcome.result is None:
        reason = f"failed: world size {outcome.world_size}: {outcome.error}"
        fail = {**extra, "failed": True, "launch_s": outcome.wall_s, "log": outcome.log,
                "rendezvous": outcome.endpoint, "port_retries": outcome.port_retries}
        return [skipped(spec_of(config, outcome.world_size, n), reason, **fail) for n in sizes]
    by_n = {int(s["n"]): s for s in outcome.result["sizes"]}
    return [measured(config, outcome, by_n[n], references[n], extra) for n in sizes]


def with_scaling(records: list[Measurement]) -> list[Measurement]:
    """Add scaling_efficiency = time(1) / (k x time(k)) against world size 1 at the same N and device."""
    base = {(m.spec.device, m.spec.batch_size): m.median_s
            for m in records if not m.skipped and m.spec.world_size == 1}
    out = []
    for m in records:
        t1 = base.get((m.spec.device, m.spec.batch_size))
        if m.skipped or t1 is None or not m.median_s > 0:
            out.append(m)
            continue
        k = m.spec.world_size or 1
        out.append(replace(m, extra={**m.extra, "speedup_vs_ws1": t1 / m.median_s,
                                     "scaling_efficiency": t1 / (k * m.median_s)}))
    return out
