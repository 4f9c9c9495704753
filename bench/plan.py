"""What a bench run will do and roughly how long it takes, said before it starts; and its progress
in a log (stderr not a terminal): a line when a runtime or variant starts, and at least every
LOG_EVERY_S, each with the time elapsed and an estimate of the time left.

The estimate is a rough model of the configuration (the constants below, measured on 2 busy
vCPUs), said as "about": enough to see that a run means 30 s or 5 min before it starts.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from bench.engine.devices import is_cuda
from bench.runtimes import runtime_entry, unavailable_reason
from bench.runtimes.base import Artifacts
from bench.suite import SuiteConfig, planned_jobs
from bench.training import variant_entry
from export.manifest import FORMATS

LOG_EVERY_S = 10.0          # a log line at least this often, when nothing else was said
WORKER_START_S = {"runtime": 3.0, "fork": 0.3, "none": 0.0}  # a fresh worker imports torch & co.;
# a forked one has them (torch._dynamo too): 3 jobs x 6 processes took 19 s after the floors (fda8cb5)
COMPILE_S = 3.0             # torch.compile, per size and process, from a warm Inductor cache (cold: ~20 s)
FLOORS_S = 8.0              # copy bandwidth and roofline, and the ORT interference probe
MEASURE_OVERHEAD_S = 0.5    # per measurement and process: data, model, parity check
SECONDS_PER_ROW = 1e-7      # ...and making the data at large sizes (10^7 rows: ~1 s)
VALGRIND_JOB_S = 90.0       # --metric instructions: a runtime's or variant's worker under Callgrind


@dataclass(frozen=True)
class Plan:
    training: tuple[int, int]   # (measurements timed, skipped up front)
    inference: tuple[int, int]
    steps: int                  # progress steps: each timed measurement in each process, each skip once
    seconds: float              # the rough model's duration of the measuring, floors included


def _entry_compiles(job: dict[str, Any]) -> bool:
    if job["task"] == "training":
        return variant_entry(job["variant"]).inductor
    return not unavailable_reason(job["runtime"]) and runtime_entry(job["runtime"]).compiled


def job_seconds(config: SuiteConfig, job: dict[str, Any]) -> float:
    """One worker job (a runtime or variant on its devices) in all its processes, roughly."""
    timing = config.timing
    per_process = WORKER_START_S[config.isolation]
    for device in job["devices"]:
        referenced = 2 if config.reference and not is_cuda(device) else 1  # a reference block after each
        for size in job["sizes"]:
            per_process += (timing.warmup_s + timing.min_total_s / config.processes) * referenced \
                + MEASURE_OVERHEAD_S + size * SECONDS_PER_ROW
            per_process += COMPILE_S if _entry_compiles(job) else 0.0
    latency = timing.latency_max_s / 2 if job["task"] == "inference" else 0.0  # the first process only
    return per_process * config.processes + latency * len(job["devices"]) * len(job["sizes"])


def make_plan(config: SuiteConfig, artifacts: Artifacts | None = None) -> Plan:
    """The plan of `config`; without artifacts (run: not exported yet) every format is assumed."""
    artifacts = artifacts or Artifacts(Path("model.pth"), {f: Path(f) for f in FORMATS})
    counts = {"training": [0, 0], "inference": [0, 0]}
    steps, seconds = 0, FLOORS_S + WORKER_START_S[config.isolation]
    for job, skips in planned_jobs(config, artifacts):
        task = job["task"] if job else "training" if skips[0].spec.phase == "train_epoch" else "inference"
        timed = len(job["devices"]) * len(job["sizes"]) if job else 0
        counts[task][0] += timed
        counts[task][1] += len(skips)
        steps += timed * config.processes + len(skips)
        seconds += job_seconds(config, job) if job else 0.0
        if job and config.metric == "instructions":  # after the timing, instruction_processes at once
            seconds += VALGRIND_JOB_S / config.instruction_processes
    return Plan(tuple(counts["training"]), tuple(counts["inference"]), steps, seconds)  # type: ignore[arg-type]


def duration(seconds: float) -> str:
    """'40 s', '3 min', '1 h 5 min': a rough time, as roughly as it is known."""
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"
    return f"{int(seconds // 3600)} h {seconds % 3600 / 60:.0f} min"


def _sizes(sizes: tuple[int, ...]) -> str:
    return ", ".join(f"10^{len(str(s)) - 1}" if s >= 10_000 and str(s).strip("0") == "1" else str(s)
                     for s in sizes)


def plan_lines(config: SuiteConfig, plan: Plan, extra_s: float = 0.0, extra: str = "") -> list[str]:
    """The plan as log lines: what will run, in how many processes, and about how long."""
    threads = "/".join(map(str, config.threads))
    lines = [f"bench: plan: {sum(plan.training) + sum(plan.inference)} measurements on "
             f"{', '.join(config.devices)}, {threads} thread(s), {config.processes} worker process(es) "
             f"each (isolation {config.isolation}); the floors first"]
    for task, (timed, skipped), names, noun, sizes in (
            ("training", plan.training, config.variants, "variant", config.train_sizes),
            ("inference", plan.inference, config.runtimes, "runtime", config.batch_sizes)):
        if names:
            skips = f" ({skipped} skipped up front)" if skipped else ""
            lines.append(f"bench:   {task}: {timed + skipped}{skips} = {len(names)} {noun}(s) "
                         f"[{', '.join(names)}] x {'N' if task == 'training' else 'batch'} {_sizes(sizes)}")
    if not config.variants or not config.runtimes:
        lines.append(f"bench:   no {'training' if not config.variants else 'inference'} "
                     f"(--{'variants' if not config.variants else 'runtimes'} chose none)")
    lines.append(f"bench:   about {duration(plan.seconds + extra_s)}{extra} (a rough model of this "
                 f"configuration; --variants, --runtimes, --processes or --quick make it shorter)")
    return lines


class LogProgress:
    """Progress for a log: a line when a new runtime or variant starts and at least every
    `every_s` (tick), with the time elapsed and left. Thread-safe: the heartbeat ticks it."""

    def __init__(self, total: int, plan_s: float, say: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic, every_s: float = LOG_EVERY_S) -> None:
        self.total, self.plan_s, self.say, self.clock, self.every_s = total, plan_s, say, clock, every_s
        self.done = 0
        self.current = "floors"
        self.start = self.last = clock()
        self.lock = threading.Lock()

    def started(self, what: str) -> None:
        """A worker job began (`train_epoch/eager, process 2 of 3`): one line, a new phase."""
        with self.lock:
            self.current = what
            self._line()

    def note(self, text: str) -> None:
        """Something to say as it is (the floors, instruction counting): it also becomes current."""
        with self.lock:
            self.current = text
            self._line()

    def step(self, label: str) -> None:
        """One measurement finished in one process."""
        with self.lock:
            self.done += 1
            self.tick_locked()

    def tick(self) -> None:
        with self.lock:
            self.tick_locked()

    def tick_locked(self) -> None:
        if self.clock() - self.last >= self.every_s:
            self._line()

    def left_s(self) -> float | None:
        """The time left: the plan's at first, then more and more the pace so far."""
        elapsed = self.clock() - self.start
        if self.done >= self.total:
            return None
        paced = elapsed * (self.total - self.done) / self.done if self.done else self.plan_s - elapsed
        weight = self.done / self.total if self.total else 1.0
        return max((1 - weight) * max(self.plan_s - elapsed, 0.0) + weight * paced, 0.0)

    def _line(self) -> None:
        now = self.clock()
        left = self.left_s()
        ahead = f", about {duration(left)} left" if left is not None else ""
        self.say(f"bench: {self.current} ({self.done}/{self.total} done, {now - self.start:.0f} s{ahead})")
        self.last = now


def progress_to(bar: Any, log: LogProgress | None, say: Callable[[str], None]) -> Callable[[str], None]:
    """run_suite's progress callback: measurements advance the bar (a terminal) or the log's count;
    other news is said as it is."""
    def progress(label: str) -> None:
        if label.count("/") != 3:  # phase/runtime/device/size is a measurement; the rest is news
            log.note(label) if log else say(f"bench: {label}")
            return
        bar.update(1, label)
        if log:
            log.step(label)
    return progress


@contextmanager
def heartbeat(progress: LogProgress | None, period_s: float = 1.0) -> Iterator[None]:
    """Tick `progress` every `period_s` from a daemon thread while the body runs (a log line at
    least every LOG_EVERY_S while one measurement, a compile or the floors take long)."""
    if progress is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(period_s):
            progress.tick()
    thread = threading.Thread(target=beat, name="bench-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
