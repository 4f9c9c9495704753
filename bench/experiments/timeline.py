"""Where one sweep invocation's wall time went: start-up, the trials side by side, the closing.

Why: `--jobs 2` halves only the trials' part. On the 2-core machine the tutorial's 24 trials
train for about 2.4 s in all, while every process pays about 2.3 s of imports before its first
trial (results/sweep-jobs/). A user who sees 1.3x from a second job needs to tell "the trials
did not run side by side" from "the trials were a small part": this splits the two.

Everything is measured in the parent on one monotonic clock. A worker reports only how long each
trial took (`train_time_s`), so a trial started at `arrival - train_time_s`, and the trials'
phase runs from the earliest such start to the last arrival.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any


def process_age_s() -> float | None:
    """Seconds since this process started (interpreter start-up and imports included), or None
    where /proc does not say (not Linux)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 (starttime), counted after "pid (comm)"
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@dataclass
class Timeline:
    """Stamps of one invocation; `as_json` turns them into sweep.json's `last_run`."""

    workers: int
    started_age_s: float | None = field(default_factory=process_age_s)
    started: float = field(default_factory=time.monotonic)
    pool_opened: float | None = None
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (when, train_time_s)
    closing_started: float | None = None
    closing_ended: float | None = None

    def pool_open(self) -> None:
        self.pool_opened = time.monotonic()

    def arrived(self, record: dict[str, Any]) -> None:
        self.arrivals.append((time.monotonic(), float(record["train_time_s"])))

    def closing(self) -> None:
        self.closing_started = time.monotonic()

    def closed(self) -> None:
        self.closing_ended = time.monotonic()

    def as_json(self) -> dict[str, Any]:
        """Seconds of each phase, None where it did not happen (a resumed sweep with nothing to run)."""
        first_start = min((when - took for when, took in self.arrivals), default=None)
        last_arrival = max((when for when, _ in self.arrivals), default=None)
        work = sum(took for _, took in self.arrivals)
        wall = last_arrival - first_start if self.arrivals else None
        return {
            "workers": self.workers,
            "trials_run": len(self.arrivals),
            "startup_s": _round(self.started_age_s),
            "worker_start_s": _round(first_start - self.pool_opened
                                     if first_start is not None and self.pool_opened else None),
            "trial_time_s": _round(work),
            "trials_wall_s": _round(wall),
            "trials_side_by_side": _round(work / wall if wall else None, 2),
            "closing_s": _round(self.closing_ended - self.closing_started
                                if self.closing_started and self.closing_ended else None),
            "command_s": _round(time.monotonic() - self.started),
        }


def describe(run: dict[str, Any]) -> str:
    """One line for stderr: the trials' own parallelism, and what the rest of the time was."""
    if not run["trials_run"]:
        return "sweep: no trial to run"
    parts = [f"{run['trials_run']} trials trained for {run['trial_time_s']:.2f} s in "
             f"{run['trials_wall_s']:.2f} s on {run['workers']} worker(s) "
             f"({run['trials_side_by_side']:.2f} side by side)"]
    if run["startup_s"] is not None:
        parts.append(f"process start-up and imports {run['startup_s']:.2f} s")
    if run["worker_start_s"] is not None:
        parts.append(f"workers' imports {run['worker_start_s']:.2f} s")
    if run["closing_s"] is not None:
        parts.append(f"plots and best/ {run['closing_s']:.2f} s")
    return "sweep: " + "; ".join(parts)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
