"""One rank of a data-parallel job: `torchrun ... -m bench.distributed.rank JOB.json`.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE and the rendezvous store in the environment. Each
rank trains the tutorial's model under DistributedDataParallel on its equal shard of the N
samples (L1 loss, SGD, full-batch epochs). Every rank gathers what every rank measured, and
local rank 0 of each node writes it to RUN_DIR/result.json, so each node keeps the whole record.
Each rank keeps RUN_DIR/rank<R>.json up to date (pid, stage, error) so the launcher can say
which rank failed, and where a hung one was.
"""
from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from bench.distributed.comm import AllReduceTimer, time_allreduce
from bench.engine.timing import minor_faults
from bench.training.loops import EagerLoop, make_train_data
from linreg.errors import exception_line
from linreg.limits import bound_text, is_out_of_memory
from linreg.files import write_json_atomic

RESULT_JSON = "result.json"
ALLREDUCE_REPEATS = 30  # isolated all-reduces of the gradient bucket's size, after the epochs


def status_path(run_dir: Path, rank: int) -> Path:
    return run_dir / f"rank{rank}.json"


def stack_path(run_dir: Path, rank: int) -> Path:
    return run_dir / f"rank{rank}.stack"


class RankStatus:
    """RUN_DIR/rank<R>.json: this rank's pid, its last stage and, if it failed, the error."""

    def __init__(self, run_dir: Path, rank: int) -> None:
        self.path = status_path(run_dir, rank)
        self.state: dict[str, Any] = {"rank": rank, "pid": os.getpid(), "stage": "started"}
        self._write()

    def stage(self, text: str) -> None:
        self.state["stage"] = text
        self._write()

    def error(self, text: str) -> None:
        self.state["error"] = text
        self.state["error_time"] = time.time()  # the first rank to fail is the cause, the rest follow
        self._write()

    def _write(self) -> None:
        write_json_atomic(self.path, self.state)


def die_with_parent() -> None:
    """Linux: SIGKILL this rank if torchrun's agent dies (even by SIGKILL), so no rank outlives it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the agent died before prctl took effect
        os._exit(1)


def dump_stack_on_sigusr1(path: Path) -> IO[str] | None:
    """On SIGUSR1, write every Python thread's stack to `path`: where a hung rank is stuck."""
    if not hasattr(signal, "SIGUSR1"):
        return None
    stream = path.open("w", encoding="utf-8")
    faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)
    return stream  # kept open for the life of the rank


def inject_fault(job: dict[str, Any], rank: int, world_size: int) -> None:
    """Tests only: crash or hang this rank, as --inject-fault asked."""
    fault = job.get("fault")
    if not fault or fault["world_size"] != world_size or fault["rank"] != rank:
        return
    if fault["kind"] == "crash":
        raise RuntimeError(f"injected crash on rank {rank} (--inject-fault)")
    while True:  # "hang": only --timeout-s ends this
        time.sleep(1.0)


def _sync_of(device: Any) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _gather(values: Any, device: Any) -> Any:
    """[world_size, ...] float64 tensor on the CPU: every rank's `values` (a list of floats)."""
    mine = torch.tensor(values, dtype=torch.float64, device=device)
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    return torch.stack(parts).cpu()


def ddp_loop(n: int, device: Any, backend: str) -> tuple[Any, Any, Any]:
    """(loop, module, timer): the tutorial's loop on this rank's shard, its model wrapped in DDP."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    shard = n // world_size  # the launcher only sends N that every rank can split equally
    X, y = make_train_data(n, "cpu")
    lo, hi = rank * shard, (rank + 1) * shard
    X, y = X[lo:hi].clone().to(device), y[lo:hi].clone().to(device)  # a copy: the full N is freed
    loop = EagerLoop(X, y, device)  # seed-42 parameters, L1 loss, SGD: the tutorial's loop
    module = loop.model
    loop.model = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    # CUDA events only for nccl, whose futures complete when the work is queued; gloo completes
    # its future once the reduced data is back, even for CUDA tensors: host clocks time that.
    timer = AllReduceTimer(cuda=backend == "nccl")
    loop.model.register_comm_hook(None, timer.hook)  # the optimizer holds the same parameters
    return loop, module, timer


def train_size(job: dict[str, Any], n: int, device: Any, status: RankStatus) -> dict[str, Any]:
    """Train one N under DDP on this rank's shard; every rank's epoch times, params, all-reduces."""
    from bench.distributed.comm import time_allreduce
    from bench.engine.timing import minor_faults

    status.stage(f"N={n}: preparing the shard")
    loop, model, timer = ddp_loop(n, device, job["backend"])
    shard = n // dist.get_world_size()
    sync = _sync_of(device)
    epoch_s: list[float] = []
    allreduce_s: list[float] = []
    status.stage(f"N={n}: training")
    faults = 0
    for epoch in range(job["warmup_epochs"] + job["epochs"]):
        if epoch == job["warmup_epochs"]:
            faults = minor_faults()
        dist.barrier()  # every rank starts the epoch together: the slowest one sets the time
        sync()
        start = time.perf_counter()
        loop.step()  # linreg.train.train_epoch on the DDP-wrapped model
        sync()  # CUDA: the epoch is done when its kernels are, not when they are queued
        elapsed = time.perf_counter() - start
        reduced = timer.take()
        if epoch >= job["warmup_epochs"]:
            epoch_s.append(elapsed)
            allreduce_s.append(reduced)
        if epoch == 0 and n == job["sizes"][0]:
            inject_fault(job, dist.get_rank(), dist.get_world_size())
    faults_per_epoch = (minor_faults() - faults) / job["epochs"]  # barriers included: an upper bound
    status.stage(f"N={n}: gathering")
    numel = sum(p.numel() for p in model.parameters())
    isolated = time_allreduce(numel, device, ALLREDUCE_REPEATS, sync)
    params = torch.cat([model.weights.detach(), model.bias.detach()]).float().cpu().tolist()
    # nccl gathers GPU tensors only; gloo gathers CPU tensors only (its all_gather has no CUDA path)
    via = device if job["backend"] == "nccl" else torch.device("cpu")
    return {
        "n": n, "shard": shard, "device": str(device),
        "rank_epoch_s": _gather(epoch_s, via).tolist(),
        "rank_allreduce_s": _gather(allreduce_s, via).tolist(),
        "rank_isolated_allreduce_s": _gather(isolated, via).tolist(),
        "rank_parameters": _gather(params, via).tolist(),
        "rank_minor_faults_per_epoch": _gather([faults_per_epoch], via).flatten().tolist(),
        "allreduce_bytes": numel * 4,
    }


def run(job: dict[str, Any], run_dir: Path) -> None:
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    status = RankStatus(run_dir, rank)
    stack_file = dump_stack_on_sigusr1(stack_path(run_dir, rank))  # noqa: F841 - stays open
    try:
        torch.set_num_threads(int(job["threads"]))
        device = torch.device("cpu")
        init: dict[str, Any] = {}
        if job["device"] == "cuda":
            device = torch.device("cuda", local_rank)  # one GPU per rank
            torch.cuda.set_device(device)
            if job["backend"] == "nccl":
                init["device_id"] = device  # binds the communicator to this rank's GPU eagerly
        status.stage("joining the process group")
        dist.init_process_group(job["backend"], timeout=timedelta(seconds=float(job["timeout_s"])), **init)
        sizes = [train_size(job, int(n), device, status) for n in job["sizes"]]
        if local_rank == 0:  # all_gather gave every rank everything: each node keeps a full copy
            write_json_atomic(run_dir / RESULT_JSON, {
                "world_size": dist.get_world_size(), "backend": dist.get_backend(),
                "threads": torch.get_num_threads(), "sizes": sizes,
                "local_world_size": int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
            })
        status.stage("finishing")
        dist.barrier()  # nobody tears the group down while a node still writes
        dist.destroy_process_group()
        status.stage("done")
    except BaseException as exc:  # noqa: BLE001 - recorded for the launcher, then exit 1
        line = f"{type(exc).__name__}: {exception_line(exc)}"
        status.error(f"out of memory under {bound_text()}: {line}" if is_out_of_memory(exc) else line)
        raise SystemExit(1) from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m bench.distributed.rank JOB.json (run by torchrun)\n")
        return 2
    die_with_parent()
    job_path = Path(args[0])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    run(job, job_path.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
