"""The changes LINREG_REGRESS=KIND makes: real code in the measured process, never scaled samples.

`effect(kind)` returns one object with `on()` and `off()`. The runtime and the training loop
switch it on once per process (kind from the environment); tests/benchmarks/true_slowdown.py
switches the same object on and off in one process to measure the true size of the change.

Per-call kinds change what one call does; the calls read these flags on every call:
- python:    a pure-Python loop per call (a few % of a call at 10^6: it is meant for batch 1, N=40);
- memory:    an extra in-place pass over part of the output (MEMORY_PCT % of it);
- speedup:   drops the redundant in-place pass that the normal call makes (REDUNDANT_PCT % of the
             output; the training step's redundant no-grad loss). So with KIND=speedup the OLD
             code is the unset state (the redundant work done) and the NEW code is faster.
Process-wide kinds change the process around the call, as a dependency might:
- gil:       a daemon thread that holds the GIL ~1 ms in every 5 ms (a busy loop, then a sleep),
             like a telemetry or polling thread;
- threads:   background threads, one pinned to each core, doing torch matmuls that release the
             GIL, duty-cycled: the measured call loses its core part of the time;
- allocator: glibc's mallopt(M_PERTURB): every block malloc hands out or takes back is filled,
             so each call's large temporary costs two more passes (the normal call's snapshot
             copy: HEAD_COPY_PCT % of the output; the training step's SNAPSHOT_FLOATS snapshot).
             Blocks under ~1 KiB come from glibc's per-thread cache, which M_PERTURB does not
             reach: at batch 1 the true change is ~0.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time

KINDS = ("python", "memory", "gil", "threads", "allocator", "speedup")
ENV = "LINREG_REGRESS"
SPIN_ENV = "LINREG_REGRESS_SPIN"  # python: iterations per call, overriding SPIN_INFERENCE/SPIN_TRAINING

REDUNDANT_PCT = 50  # the normal call's redundant in-place pass: this % of the output (speedup drops it)
MEMORY_PCT = 50     # memory: the extra in-place pass covers this % of the output
HEAD_COPY_PCT = 25  # the normal call's snapshot copy (a temporary: what allocator reaches)
SNAPSHOT_FLOATS = 1 << 19  # the training step's snapshot copy: 2 MiB

GIL_HOLD_S = 0.001   # gil: the busy loop holds the GIL this long...
GIL_SLEEP_S = 0.004  # ...then sleeps (releases it) this long: 1 ms in every 5 ms

CORE_BUSY_S = 0.0005  # threads: each thread works this long (GIL released inside torch.mm; true 1.20-1.25x)
CORE_IDLE_S = 0.004  # ...then waits this long
CORE_MATRIX = 256    # a 256 x 256 float32 matmul: ~0.3 ms, 768 KiB (cache-resident arithmetic)

M_PERTURB = -6        # glibc's mallopt parameter (malloc.h), what MALLOC_PERTURB_ sets at start-up
PERTURB_BYTE = 0x5A   # allocator: any non-zero byte switches the fills on
# Tried first and dropped: mmap for every request of 64 KiB or more (M_MMAP_THRESHOLD, with
# M_TRIM_THRESHOLD 0 and M_TOP_PAD 0). glibc mmaps only when no free block in its bins fits, and
# torch's temporaries were always served from the bins: no page fault, no change. Trimming the
# heap to a 1 MiB top pad cost 1.0x to 1.6x from one process to the next, by heap layout.


class Effect:
    """The unset state (kind None), and the flags every call reads; `on`/`off` flip them."""

    process_wide = False

    def __init__(self, kind: str | None = None) -> None:
        self.kind = kind
        self.active = False
        self.spin = False        # python: run python_work() in each call
        self.extra_pass = False  # memory: one more in-place pass over part of the output
        self.redundant = True    # the normal call's redundant work (speedup: False)
        self.spins = 0           # calls that ran python_work (tests count work, not time)
        # python: iterations per call instead of the runtime's or loop's own (instruction-count
        # targets need a change of a chosen size: tests/benchmarks/measure_instructions.py)
        self.iterations = int(os.environ.get(SPIN_ENV, "0") or 0)

    def on(self) -> None:
        self.active = True
        if self.kind == "python":
            self.spin = True
        elif self.kind == "memory":
            self.extra_pass = True
        elif self.kind == "speedup":
            self.redundant = False

    def off(self) -> None:
        self.active = False
        self.spin = self.extra_pass = False
        self.redundant = True

    def close(self) -> None:
        """Off for good (a thread kind also joins its threads)."""
        self.off()

    def python_work(self, iterations: int) -> None:
        """Interpreter work: an empty loop (~25 ns an iteration), and a counter the tests read."""
        self.spins += 1
        for _ in range(self.iterations or iterations):
            pass


class _Threads(Effect):
    """A process-wide effect run by daemon threads that live as long as the process: on() starts
    them once and resumes them, off() parks them (blocked on a condition: no CPU, no GIL) and
    returns when none is inside a work cycle. Kept alive because starting threads for every
    "new" block of a truth measurement cost that block their start-up: the unpinned threads kind
    read 1.14-1.19x that way, against 1.03-1.05x with the threads kept (a bench process starts
    them once)."""

    process_wide = True
    count = 1

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.threads: list[threading.Thread] = []
        self.cycles = 0        # work cycles run, all threads (tests count work, not time)
        self._state = "off"    # off | on | closed
        self._working = 0      # threads inside a cycle now
        self._cond = threading.Condition()
        self._halt = threading.Event()  # cuts an idle wait short when parking

    def on(self) -> None:
        self.active = True
        with self._cond:
            if not self.threads:
                self.threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                                 name=f"linreg-regress-{self.kind}-{i}")
                                for i in range(self.count)]
                for t in self.threads:
                    t.start()
            self._state = "on"
            self._cond.notify_all()

    def off(self) -> None:
        self.active = False
        self._park("off")

    def close(self) -> None:
        """Stop and join the threads (off() only parks them)."""
        self.active = False
        self._park("closed")
        for t in self.threads:
            t.join()
        self.threads = []
        self._state = "off"

    def _park(self, state: str) -> None:
        with self._cond:
            self._state = state
            self._halt.set()
            self._cond.notify_all()
            while self._working:
                self._cond.wait()
            self._halt.clear()

    def _serve(self, index: int) -> None:
        self._setup(index)
        while True:
            with self._cond:
                while self._state == "off":
                    self._cond.wait()
                if self._state == "closed":
                    return
                self._working += 1
            try:
                self._cycle(index)
            finally:
                with self._cond:
                    self._working -= 1
                    self.cycles += 1
                    self._cond.notify_all()

    def _setup(self, index: int) -> None:
        """Per thread, once, before its first cycle."""

    def _cycle(self, index: int) -> None:
        """One busy period, then an idle wait that _halt cuts short."""
        raise NotImplementedError


class GilHog(_Threads):
    """A daemon thread holding the GIL ~1 ms in every 5 ms: a pure-Python busy loop, then a sleep."""

    def _cycle(self, index: int) -> None:
        clock = time.perf_counter
        end = clock() + GIL_HOLD_S
        while clock() < end:  # bytecode only: the GIL is released just at the switch interval
            pass
        self._halt.wait(GIL_SLEEP_S)  # sleeps with the GIL released


class CoreHogs(_Threads):
    """One thread per usable CPU, each pinned to its CPU (as OpenMP's OMP_PROC_BIND binds a pool),
    multiplying matrices (GIL released) CORE_BUSY_S of every CORE_BUSY_S + CORE_IDLE_S.

    Pinned, so that wherever the measured thread runs it shares its core part of the time.
    Unpinned, the scheduler decided: the measured thread kept a core to itself or shared one,
    1.0x or 1.5x from one block to the next (two always-busy threads), and at this duty ~1.03x.
    One matmul is ~0.3 ms of cache-resident arithmetic: the threads take cores, and take the GIL
    only between matmuls (numpy's short ufunc calls took it every few us, a GIL effect instead).
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.count = len(self.cpus) or os.cpu_count() or 1
        self._matrices: dict[int, tuple[object, object]] = {}

    def _setup(self, index: int) -> None:
        import torch

        if self.cpus:
            os.sched_setaffinity(threading.get_native_id(), {self.cpus[index]})
        a = torch.rand(CORE_MATRIX, CORE_MATRIX)
        self._matrices[index] = (a, torch.empty_like(a))

    def _cycle(self, index: int) -> None:
        import torch

        a, out = self._matrices[index]
        clock = time.perf_counter
        end = clock() + CORE_BUSY_S
        while clock() < end:
            torch.mm(a, a, out=out)  # intra-op threads as the process set them (1 in workers)
        self._halt.wait(CORE_IDLE_S)


class Allocator(Effect):
    """glibc's M_PERTURB, switched in place: on, and back to what the process started with."""

    process_wide = True

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # this process's C library
        if self._mallopt is None:
            raise OSError("allocator: this C library has no mallopt (glibc only)")
        self._mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        self._mallopt.restype = ctypes.c_int
        self.start_value = int(os.environ.get("MALLOC_PERTURB_", "0"))  # off(): back to this
        self.result: int | None = None  # mallopt's return value of the last switch (1: accepted)

    def _set(self, value: int) -> None:
        self.result = int(self._mallopt(M_PERTURB, value))
        if self.result != 1:
            raise OSError(f"allocator: mallopt(M_PERTURB, {value}) returned {self.result}")

    def on(self) -> None:
        self.active = True
        self._set(PERTURB_BYTE)

    def off(self) -> None:
        self.active = False
        self._set(self.start_value)


def effect(kind: str | None) -> Effect:
    """The effect of KIND (None: the unset state), switched off."""
    if kind is None:
        return Effect(None)
    if kind not in KINDS:
        raise ValueError(f"{ENV}={kind!r} is none of {', '.join(KINDS)}")
    if kind == "gil":
        return GilHog(kind)
    if kind == "threads":
        return CoreHogs(kind)
    if kind == "allocator":
        return Allocator(kind)
    return Effect(kind)


_ACTIVE: Effect | None = None


def active() -> Effect:
    """This process's effect, from LINREG_REGRESS, switched on at the first call (a load)."""
    global _ACTIVE
    if _ACTIVE is None:
        chosen = effect(os.environ.get(ENV) or None)
        chosen.on()
        _ACTIVE = chosen
    return _ACTIVE

