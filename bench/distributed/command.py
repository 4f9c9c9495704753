"""`linreg-bench ddp`: data-parallel training epochs launched with torchrun, per world size.

Exit codes: 0 every world size measured with parity passing; 1 a world size failed (crash,
hang, timeout) or parity failed, with every file written; 2 bad input (one `error:` line);
130 interrupted (what finished is kept).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from bench.distributed.config import (BACKENDS, DEFAULT_RDZV_ID, DEFAULT_SIZES, DEVICES, DdpConfig,
                                      DdpInputError, Fault)
from bench.distributed.scaling import run_scaling
from bench.engine.measurement import Measurement
from linreg.environment import cpu_count, gib, physical_memory_bytes
from linreg.limits import default_child_memory_gib


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ddp", help="time data-parallel training epochs (DDP) at each world size, launched with torchrun",
        description="Train the tutorial's model under DistributedDataParallel at each world size, "
                    "launched by torchrun (torch.distributed.run): equal shards, full-batch epochs, "
                    "parity against one process, epoch time, all-reduce share, scaling efficiency.")
    p.add_argument("--world-sizes", type=int, nargs="+", required=True, metavar="K",
                   help="world sizes to launch, one torchrun job each (e.g. 1 2 4)")
    p.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N", dest="sizes",
                   help="training samples, split into equal shards (default: 10000 1000000)")
    p.add_argument("--epochs", type=int, default=DdpConfig.epochs,
                   help=f"timed epochs per world size and N (default {DdpConfig.epochs})")
    p.add_argument("--warmup-epochs", type=int, default=DdpConfig.warmup_epochs,
                   help=f"untimed epochs first (default {DdpConfig.warmup_epochs})")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="process-group backend (default auto: nccl on cuda, gloo on cpu)")
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="cpu, or cuda with one GPU per rank (default cpu)")
    p.add_argument("--threads", type=int, default=DdpConfig.threads,
                   help="intra-op threads per rank, pinned and recorded (default 1)")
    p.add_argument("--timeout-s", type=float, default=DdpConfig.timeout_s,
                   help=f"end a world size's job after this many seconds (default {DdpConfig.timeout_s:g})")
    p.add_argument("--rank-memory-gib", type=float, default=default_child_memory_gib(), metavar="GIB",
                   help="each rank's private memory (RLIMIT_DATA); a rank past it fails, named")
    p.add_argument("--port", type=int, default=None,
                   help="one node: rendezvous port (default: a free one, torchrun --standalone); "
                        "a port in use is retried on another free one")
    p.add_argument("--nnodes", type=int, default=1,
                   help="several nodes: run the same command on each (passes through to torchrun)")
    p.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                   help="several nodes: the c10d rendezvous store, the same on every node")
    p.add_argument("--rdzv-id", default=DEFAULT_RDZV_ID,
                   help=f"several nodes: job id, the same on every node (default {DEFAULT_RDZV_ID})")
    p.add_argument("--out", type=Path, required=True, help="folder for results.json/csv, plots, report.md")
    p.add_argument("--inject-fault", default=None, help=argparse.SUPPRESS)  # tests: crash|hang:WS:RANK
    p.set_defaults(func=cmd_ddp)


def config_from_args(args: argparse.Namespace) -> DdpConfig:
    """The validated config; CUDA is probed only when asked for (probing initialises the driver)."""
    cuda, gpus = False, 0
    if args.device == "cuda" or args.backend == "nccl":
        cuda = torch.cuda.is_available()
        gpus = torch.cuda.device_count() if cuda else 0
    return DdpConfig(
        world_sizes=tuple(dict.fromkeys(args.world_sizes)), sizes=tuple(dict.fromkeys(args.sizes)),
        epochs=args.epochs, warmup_epochs=args.warmup_epochs, backend=args.backend,
        device=args.device, threads=args.threads, timeout_s=args.timeout_s, nnodes=args.nnodes,
        rank_memory_gib=args.rank_memory_gib,
        rdzv_endpoint=args.rdzv_endpoint, rdzv_id=args.rdzv_id, port=args.port,
        fault=Fault.parse(args.inject_fault) if args.inject_fault else None,
        cuda_available=cuda, gpu_count=gpus)


RANK_BYTES = 300 << 20   # one CPU rank: a whole torch process (world size 8 added 1.85 GB here)
RANKS_PER_CORE = 4       # past this a world size measures the scheduler, not DDP


def check_host_capacity(config: DdpConfig, cores: int, memory_bytes: int) -> None:
    """Ranks per node against this machine's cores and memory: 256 ranks on 2 cores was accepted."""
    per_node = -(-max(config.world_sizes) // config.nnodes)
    if config.device == "cpu" and per_node > RANKS_PER_CORE * cores:
        raise DdpInputError(f"world size {max(config.world_sizes)} puts {per_node} CPU ranks on this "
                            f"machine's {cores} cores, over {RANKS_PER_CORE} per core")
    if per_node * RANK_BYTES > memory_bytes:
        raise DdpInputError(f"world size {max(config.world_sizes)}: {per_node} ranks need about "
                            f"{gib(per_node * RANK_BYTES)}, over this machine's {gib(memory_bytes)}")


def cmd_ddp(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # DdpInputError: exit 2 before anything runs
    check_host_capacity(config, cpu_count() or 1, physical_memory_bytes())
    results = run_scaling(config, args.out)
    records = [Measurement.from_dict(e) for e in results["measurements"]]
    failed = [m for m in records if m.extra.get("failed")]
    bad = [m for m in records if not m.skipped and m.parity is not None and not m.parity.passed]
    timed = [m for m in records if not m.skipped]
    print(f"{len(timed)} timed, {len(records) - len(timed)} skipped or failed, {len(bad)} parity "
          f"failures; wrote {args.out}/results.json, results.csv, report.md")
    if failed:
        sizes = sorted({m.spec.world_size or 0 for m in failed})
        more = f" (world sizes that failed: {', '.join(map(str, sizes))})" if len(sizes) > 1 else ""
        sys.stderr.write(f"error: {(failed[0].skip_reason or '').removeprefix('failed: ')}{more}\n")
        return 1
    if bad:
        sys.stderr.write(f"error: parity failed for {', '.join(m.spec.label for m in bad)}\n")
        return 1
    if not timed:
        sys.stderr.write(f"error: no world size was timed ({len(records)} skipped)\n")
        return 1
    return 0
