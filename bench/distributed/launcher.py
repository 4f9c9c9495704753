"""Launch one world size through torchrun (torch.distributed.run) and say how it ended.

One node: torchrun's standalone rendezvous (a c10d store on a free port), or, with --port, a
c10d store on that port of this host (is_host=1, so a busy port fails at once instead of
joining a stranger's store). A port found in use is retried on another free one. Several nodes:
--nnodes and --rdzv-endpoint pass through to torchrun's c10d rendezvous, and each node runs
world_size / nnodes ranks. A crashed or hung job is ended after --timeout-s; the outcome names
the rank that failed and why, or where each rank was when the time ran out.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.distributed.config import DdpConfig
from bench.distributed.processes import end_group, start_group
from bench.distributed.rank import RESULT_JSON, stack_path
from bench.engine.allocator import ALLOCATOR_ENV
from linreg.files import write_json_atomic
from linreg.limits import child_memory_environment

PORT_TRIES = 4          # the asked-for port, then up to three free ones
_PORT_IN_USE = re.compile(r"EADDRINUSE|address already in use", re.IGNORECASE)
_EXITCODE = re.compile(r"rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)")
_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')
STACK_WAIT_S = 1.0      # for hung ranks to write their stacks (faulthandler, SIGUSR1)


@dataclass(frozen=True)
class LaunchOutcome:
    """How one torchrun job ended: rank 0's result, or why there is none."""

    world_size: int
    result: dict[str, Any] | None   # rank 0's result.json when the job succeeded
    error: str | None               # why it failed (None on success)
    wall_s: float                   # launch to exit, torchrun and the ranks' start-up included
    endpoint: str                   # where the rendezvous store was
    port_retries: int = 0           # ports found in use before one worked
    log: str = ""                   # torchrun's output file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_argv(config: DdpConfig, world_size: int, job_path: Path, port: int | None) -> list[str]:
    """The torchrun command line for one world size (see the module docstring for the modes)."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--max-restarts=0", "--monitor-interval=0.1"]
    if config.nnodes > 1 or config.rdzv_endpoint:
        argv += [f"--nnodes={config.nnodes}", "--rdzv-backend=c10d",
                 f"--rdzv-endpoint={config.rdzv_endpoint}", f"--rdzv-id={config.rdzv_id}-ws{world_size}"]
    elif port is None:
        argv += ["--standalone", "--nnodes=1"]
    else:
        argv += ["--nnodes=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
                 f"--rdzv-id={config.rdzv_id}-ws{world_size}", "--rdzv-conf=is_host=1"]
    argv += [f"--nproc-per-node={world_size // config.nnodes}", "-m", "bench.distributed.rank", str(job_path)]
    return argv


def job_of(config: DdpConfig, world_size: int, sizes: list[int]) -> dict[str, Any]:
    """What every rank of one launch is told (RUN_DIR/job.json)."""
    return {"world_size": world_size, "sizes": sizes, "epochs": config.epochs,
            "warmup_epochs": config.warmup_epochs, "backend": config.resolved_backend,
            "device": config.device, "threads": config.threads, "timeout_s": config.timeout_s,
            "fault": config.to_json()["fault"]}


def rank_env(config: DdpConfig, base: dict[str, str]) -> dict[str, str]:
    """The ranks' environment: pinned threads (torchrun would force OMP_NUM_THREADS=1 and warn)
    and the allocator settings `bench` workers run with (big arrays otherwise time page faults)."""
    env = {**base, **ALLOCATOR_ENV}
    env["OMP_NUM_THREADS"] = str(config.threads)
    env["PYTHONUNBUFFERED"] = "1"
    return child_memory_environment(config.rank_memory_gib, env, "--rank-memory-gib")  # the bound, named by a failing rank


def _statuses(run_dir: Path, local_ranks: int) -> list[dict[str, Any]]:
    """The ranks' status files on this node, by rank; ranks that wrote none are "not started"."""
    found: dict[int, dict[str, Any]] = {}
    for path in run_dir.glob("rank*.json"):
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
            found[int(status["rank"])] = status
        except (OSError, ValueError, KeyError, TypeError):
            continue
    missing = max(0, local_ranks - len(found))
    extra = [{"rank": "?", "stage": "not started"}] * missing
    return [found[r] for r in sorted(found)] + extra


def failure_reason(run_dir: Path, world_size: int, log_text: str, returncode: int | None,
                   timeout_s: float | None) -> str:
    """One line: which rank failed and why, or where each rank was when the time ran out."""
    statuses = _statuses(run_dir, world_size)
    if timeout_s is not None:
        where = "; ".join(f"rank {s['rank']} at {s.get('stage', '?')}{_stuck_in(run_dir, s['rank'])}"
                          for s in statuses)
        return f"timed out after {timeout_s:g} s (--timeout-s), job ended; {where}"
    failed = sorted((s for s in statuses if s.get("error")), key=lambda s: s.get("error_time", 0.0))
    if failed:
        first = f"rank {failed[0]['rank']} failed first: {failed[0]['error']}"
        then = "; ".join(f"rank {s['rank']}: {s['error']}" for s in failed[1:])
        return first + (f"; then {then}" if then else "") + f" (torchrun exit {returncode})"
    codes = [(int(r), int(c)) for r, c in _EXITCODE.findall(log_text) if int(c) != 0]
    if codes:
        return "; ".join(f"rank {r} {_exit_text(c)}" for r, c in codes) + f" (torchrun exit {returncode})"
    last = next((line.strip() for line in reversed(log_text.splitlines()) if line.strip()), "no output")
    return f"torchrun exit {returncode}: {last[:200]}"


def _stuck_in(run_dir: Path, rank: Any) -> str:
    """", in FUNC (FILE:LINE) from OURS (rank.py:LINE)": the innermost frames of a rank's stack dump."""
    try:
        text = stack_path(run_dir, int(rank)).read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return ""
    blocks = [b for b in re.split(r"\n(?=\S)", text) if "rank.py" in b]  # the main thread's block
    frames = _FRAME.findall(blocks[-1]) if blocks else []
    if not frames:
        return ""
    where = lambda f: f"{f[2]} ({Path(f[0]).name}:{f[1]})"  # noqa: E731
    ours = next((f for f in frames if Path(f[0]).name == "rank.py"), None)
    inner = f", in {where(frames[0])}"
    return inner + (f" from {where(ours)}" if ours and ours is not frames[0] else "")


def dump_stacks(run_dir: Path) -> None:
    """Ask every rank for its stack (SIGUSR1: faulthandler in the rank) before ending the job."""
    pids = _rank_pids(run_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGUSR1)
    if pids:
        time.sleep(STACK_WAIT_S)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _run_once(config: DdpConfig, world_size: int, run_dir: Path, log_path: Path,
              port: int | None) -> tuple[int | None, bool, float]:
    """Run torchrun once; (returncode or None on timeout, timed out?, wall seconds)."""
    for stale in [run_dir / RESULT_JSON, *run_dir.glob("rank*.json"), *run_dir.glob("rank*.stack")]:
        stale.unlink(missing_ok=True)
    argv = torchrun_argv(config, world_size, run_dir / "job.json", port)
    start = time.monotonic()
    with log_path.open("ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = start_group(argv, rank_env(config, os.environ.copy()), log, config.rank_memory_gib)
        try:
            return proc.wait(timeout=config.timeout_s), False, time.monotonic() - start
        except subprocess.TimeoutExpired:
            dump_stacks(run_dir)
            end_group(proc, _rank_pids(run_dir))
            return None, True, time.monotonic() - start
        except BaseException:  # Ctrl-C or anything else: no rank may outlive this call
            end_group(proc, _rank_pids(run_dir))
            raise


def _rank_pids(run_dir: Path) -> list[int]:
    return [int(s["pid"]) for s in _statuses(run_dir, 0) if isinstance(s.get("pid"), int)]


def launch(config: DdpConfig, world_size: int, sizes: list[int], run_dir: Path, log_path: Path) -> LaunchOutcome:
    """Run one world size to the end (or the timeout); retry a rendezvous port that is in use."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "job.json", job_of(config, world_size, sizes))
    log_path.unlink(missing_ok=True)
    port = config.port
    retries = 0
    while True:
        offset = log_path.stat().st_size if log_path.exists() else 0  # this attempt's output only
        returncode, timed_out, wall_s = _run_once(config, world_size, run_dir, log_path, port)
        endpoint = config.rdzv_endpoint or (f"127.0.0.1:{port}" if port else "standalone (a free port)")
        with log_path.open("rb") as f:
            f.seek(offset)
            log_text = f.read().decode("utf-8", errors="replace")
        in_use = returncode not in (0, None) and _PORT_IN_USE.search(log_text) is not None
        if in_use and config.rdzv_endpoint is None and retries < PORT_TRIES - 1:
            retries += 1
            port = free_port()  # another node cannot follow a moved endpoint: one node only
            continue
        if returncode == 0 and (run_dir / RESULT_JSON).is_file():
            result = json.loads((run_dir / RESULT_JSON).read_text(encoding="utf-8"))
            return LaunchOutcome(world_size, result, None, wall_s, endpoint, retries, str(log_path))
        if returncode == 0:
            error = "torchrun exited 0 but no rank wrote a result (see the log)"
        else:
            error = failure_reason(run_dir, world_size // config.nnodes, log_text, returncode,
                                   config.timeout_s if timed_out else None)
        if in_use:
            error = f"rendezvous port in use on {PORT_TRIES} tries ({endpoint}): {error}"
        return LaunchOutcome(world_size, None, error, wall_s, endpoint, retries, str(log_path))
