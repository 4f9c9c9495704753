"""The host-state reference: a companion process that times a fixed reference in lockstep.

A reference inside the measured process cancels whatever slows that whole process: a thread
that holds the GIL, a thread-pool or allocator setting, an import side effect. Those are part of
what is measured, so a regression of that kind read as unchanged, or faster (a GIL-holding
thread: raw +37%, ratio 0.945x). The host's slow phases, on the other hand, are host-wide and
last seconds. So the reference runs in ANOTHER process, started clean (forked from the worker
before it runs anything, bench/engine/companion_fork.py, or a fresh interpreter with its own
environment; the harness's allocator settings, a fixed thread count, no plug-ins), and the two take
turns: after each workload block the worker asks for one reference block and waits, blocked on
a pipe and stopped whole (SIGSTOP: its other threads too), until its time comes back (duet benchmarking, Bulej et al. 2020; randomized multiple
interleaved trials, Abedi and Brecht 2017). The measured process cannot bend it; the host can.

Protocol, one text line each way (stdout is the companion's protocol channel; anything a
library prints goes to stderr):
  worker -> companion: {"use": KIND, "threads": T, "timing": {...}}  <- {"calls": n}
                       "block"                                        <- {"s": seconds per call}
                       {"ladder": [KIND, ...], "threads", "timing", "rounds"}
                                                        <- {"times_s": {KIND: [s per call]}}
  EOF ends the companion.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import statistics
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Sequence

from bench.engine.affinity import follow, worker_stopped
from bench.engine.measurement import Spec
from bench.engine.reference import SINGLE_THREADED, reference_kind
from bench.engine.timing import TimingConfig

# A reference block lasts half a workload block: the host's slow phases last seconds, so 5 ms
# right after each block sees the same state, and the reference (a clean process with no other
# threads) has no GIL switch interval to span; it halves the reference's share of a run's time.
REFERENCE_BLOCK_SHARE = 0.5
START_TIMEOUT_S = 120.0   # importing torch (and onnxruntime) in a fresh interpreter, on a busy host
BLOCK_TIMEOUT_S = 60.0


class CompanionError(RuntimeError):
    """The companion died, hung or answered out of protocol."""


def companion_environment() -> dict[str, str]:
    """A clean environment: nothing of the measured process's settings reaches the reference
    except where to find Python and this checkout. The allocator is the harness's own."""
    from bench.engine.allocator import ALLOCATOR_ENV

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(ALLOCATOR_ENV)
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    return env


class Companion:
    """One companion process, started at once (it imports while the worker sets up)."""

    def __init__(self, fork: bool = False) -> None:
        self.proc: Any
        self.started = "forked from the worker" if fork else "fresh interpreter"
        if fork:  # bench/engine/companion_fork.py: started in milliseconds, not ~2.5 s of imports
            from bench.engine.companion_fork import fork_companion

            self.proc, self.stdin, self.stdout = fork_companion(_serve)
            return
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.engine.companion"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=companion_environment(),
            text=True, bufsize=1)
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def use(self, kind: str, threads: int, timing: dict[str, Any]) -> tuple[int, int | None]:
        """Reference `kind` at `threads`, built again for every timed instance (a draw): new
        buffers at a new offset (bench/engine/layout.py), warmed and calibrated. (calls per
        block, the spacer's bytes: the layout drawn)."""
        reply = self._ask(json.dumps({"use": kind, "threads": threads, "timing": timing}),
                          START_TIMEOUT_S)
        return int(reply["calls"]), reply.get("spacer_bytes")

    def ladder(self, kinds: Sequence[str], threads: int, timing: dict[str, Any],
               rounds: int) -> dict[str, list[float]]:
        """Every kind built once, then `rounds` rounds of a block of each in turn (the companion's
        _ladder; bench/engine/ladder.py): {kind: [seconds per call of each round's block]}."""
        ask = {"ladder": list(kinds), "threads": threads, "timing": timing, "rounds": rounds}
        return self._ask(json.dumps(ask), START_TIMEOUT_S)["times_s"]

    def block(self) -> tuple[float, int | None]:
        """(seconds per call of one reference block, timed in the companion now; the CPU it ran on)."""
        reply = self._ask("block", BLOCK_TIMEOUT_S)
        cpu = reply.get("cpu")
        return float(reply["s"]), cpu if isinstance(cpu, int) else None

    def _ask(self, line: str, timeout_s: float) -> dict[str, Any]:
        stdin, stdout = self.stdin, self.stdout
        try:
            stdin.write(line + "\n")
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise CompanionError(f"companion exited (code {self.proc.poll()})") from None
        ready, _, _ = select.select([stdout], [], [], timeout_s)
        answer = stdout.readline() if ready else ""
        if not answer:
            self.close()
            raise CompanionError("companion did not answer" if not ready else
                                 f"companion exited (code {self.proc.poll()})")
        reply = json.loads(answer)
        if "error" in reply:
            raise CompanionError(f"companion: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def interleaved_reference(spec: Spec, timing: TimingConfig, family: str = "dispatch") -> Any:
    """The host-state reference to take turns with `spec`'s blocks: a block in the companion
    process after every workload block (bench/engine/companion.py). CPU only (CUDA work is not
    dispatch-bound on the host in the same way) and only when the timing config asks for it."""
    if not timing.reference or spec.device != "cpu":
        return None
    import torch

    kind = reference_kind(spec, family)
    threads = 1 if kind in SINGLE_THREADED else torch.get_num_threads()
    return CompanionReference(kind, threads, timing)


_SHARED: list[Companion] = []


def shared_companion(fork: bool = False) -> Companion:
    """This process's companion (one per worker process, reused by every measurement in it);
    started, where none is alive, as a fork of this process (`fork`: only while it has run
    nothing, bench/forked.py) or a fresh interpreter."""
    if not _SHARED or _SHARED[0].proc.poll() is not None:
        _SHARED[:] = [Companion(fork)]
        atexit.register(_SHARED[0].close)
    return _SHARED[0]


class CompanionReference:
    """The reference of one timed instance: `sample()` after every workload block asks the
    companion for one block of `kind`; `record()` pairs them (what InterleavedReference was)."""

    def __init__(self, kind: str, threads: int, timing: Any) -> None:
        from dataclasses import asdict

        self.kind, self.threads = kind, threads
        self.companion = shared_companion()
        self.calls, self.spacer_bytes = self.companion.use(kind, threads, asdict(timing))
        self.times_s: list[float] = []
        self.cpus: set[int] = set()  # where its blocks ran (each on the workload's last CPU)

    def sample(self) -> None:
        seconds, cpu = self.companion.block()
        self.times_s.append(seconds)
        if cpu is not None:
            self.cpus.add(cpu)

    def record(self, workload_s: Sequence[float]) -> dict[str, Any]:
        """extra["reference"]: the companion's blocks and the median of workload/reference pairs."""
        pairs = [w / r for w, r in zip(workload_s, self.times_s) if r > 0]
        return {"kind": self.kind, "threads": self.threads, "where": "companion process",
                "started": self.companion.started,
                "median_s": statistics.median(self.times_s),
                "ratio": statistics.median(pairs) if pairs else None,
                "calls_per_sample": self.calls, "times_s": list(self.times_s),
                "layout_spacer_bytes": self.spacer_bytes,
                "cpus": sorted(self.cpus) or None}


def _serve(channel: IO[str], requests: IO[str]) -> None:
    import torch

    from bench.engine.layout import layout_spacer
    from bench.engine.timing import TimingConfig

    block, calls = None, 0
    for line in requests:
        try:
            if line.strip() == "block":
                if block is None:
                    raise ValueError("block before use")
                worker = os.getppid()
                cpu = follow(worker)  # where the workload just ran: the same vCPU's state
                with worker_stopped(worker):
                    reply: dict[str, Any] = {"s": block(calls) / calls, "cpu": cpu}
            elif "ladder" in (ask := json.loads(line)):  # bench/engine/ladder.py
                block = None  # its threads are the ladder's now: a "use" must come first
                reply = {"times_s": _ladder([str(k) for k in ask["ladder"]], int(ask["threads"]),
                                            TimingConfig(**ask["timing"]), int(ask["rounds"]))}
            else:
                torch.set_num_threads(int(ask["threads"]))
                timing = TimingConfig(**ask["timing"])
                block = spacer = None  # the old buffers freed first, then a new layout
                spacer = layout_spacer()
                block, calls = _built(str(ask["use"]), timing)
                reply = {"calls": calls, "spacer_bytes": spacer.numel() * spacer.element_size()}
        except Exception as exc:  # noqa: BLE001 - the worker decides; one line back
            reply = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        channel.write(json.dumps(reply) + "\n")
        channel.flush()


def _built(kind: str, timing: Any) -> tuple[Any, int]:
    """Reference `kind` built, warmed and calibrated: (its block timer, calls per block)."""
    from bench.engine.reference import reference_workload
    from bench.engine.timing import calibrate, loop_timer, warm_up

    fn = reference_workload(kind)
    timer = loop_timer(fn)
    warm_up(fn, timing)
    return timer, calibrate(timer, timing.min_sample_s * REFERENCE_BLOCK_SHARE)[0]


def _ladder(kinds: list[str], threads: int, timing: Any, rounds: int) -> dict[str, list[float]]:
    """Each kind built, warmed and calibrated once, then `rounds` rounds of one block of each
    kind back to back (the order rotated each round): adjacent blocks, milliseconds apart, see
    the same host state, so each round's ratio of two kinds is the kinds' own."""
    import torch

    built = {}
    for kind in kinds:
        torch.set_num_threads(1 if kind in SINGLE_THREADED else threads)
        built[kind] = _built(kind, timing)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for r in range(rounds):
        for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            torch.set_num_threads(1 if kind in SINGLE_THREADED else threads)
            timer, calls = built[kind]
            times[kind].append(timer(calls) / calls)
    return times


def main() -> None:
    # the protocol keeps fd 1; whatever a library prints goes to stderr
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    try:
        _serve(channel, sys.stdin)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
