"""What was measured (a frozen Spec) kept apart from the raw samples; statistics derive from samples.

A Measurement serialises to one entry of results.json's `measurements` list (see bench/store/schema.py).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

PHASES = ("train_epoch", "inference")


@dataclass(frozen=True)
class Spec:
    phase: str        # "train_epoch" | "inference"
    runtime: str      # "eager" | "inference_mode" | "torchscript" | "onnxruntime" | "fused" | ...
    device: str       # "cpu" | "cuda:0" | ...
    batch_size: int   # inference batch, or N samples for a training epoch
    world_size: int | None = None  # data-parallel runs only: ranks sharing the epoch (part of the identity)
    threads: int | None = None     # torch and ORT intra-op threads it ran with
    thread_scaling: bool = False   # a run of several thread counts: `threads` joins the identity

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {self.phase!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.world_size is not None and self.world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {self.world_size}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")

    @property
    def runtime_label(self) -> str:
        return runtime_label(self.runtime, self.world_size, self.threads if self.thread_scaling else None)

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The identity two result files are matched on."""
        return (self.phase, self.runtime_label, self.device, self.batch_size)

    @property
    def label(self) -> str:
        return f"{self.phase}/{self.runtime_label}/{self.device}/{self.batch_size}"


def runtime_label(runtime: str, world_size: int | None = None, threads: int | None = None) -> str:
    """The runtime as keys and tables name it: a data-parallel run carries its world size (ddp-ws2);
    a measurement of a run of several thread counts carries its count (eager-t2), `threads` given.

    One thread keeps the bare name, so a [1, 2] run matches a one-count baseline on its 1-thread
    entries; a one-count run (any count) keeps the keys it always had (`threads` not given).
    A data-parallel record's `threads` are per rank, not its identity."""
    if world_size is not None:
        return f"{runtime}-ws{world_size}"
    return runtime if threads is None or threads == 1 else f"{runtime}-t{threads}"


def entry_threads(entry: dict[str, Any]) -> int | None:
    """The `threads` of a results.json entry when it is a valid count (validate_results checks it)."""
    threads = entry.get("threads")
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 else None


def entry_runtime(entry: dict[str, Any]) -> str:
    """runtime_label of a results.json entry."""
    scaling = entry.get("thread_scaling") is True
    return runtime_label(entry["runtime"], entry.get("world_size"), entry_threads(entry) if scaling else None)


@dataclass(frozen=True)
class Parity:
    """Outputs of the timed runtime against the state_dict model, checked before timing."""

    max_abs_error: float
    max_ulp: int
    passed: bool
    tolerance: str                # e.g. "bit-exact" or "max_abs_error <= 1e-6"
    reference: str = "state_dict eager model on the CPU"

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_abs_error": self.max_abs_error, "max_ulp": self.max_ulp, "passed": self.passed,
            "tolerance": self.tolerance, "reference": self.reference,
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; values must be sorted."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Measurement:
    spec: Spec
    times_s: tuple[float, ...] = ()     # seconds per call, one per sample, warmups excluded
    calls_per_sample: int = 1           # calls averaged into each sample (timer resolution)
    parity: Parity | None = None
    warnings: tuple[str, ...] = ()
    skip_reason: str | None = None      # set instead of times_s when the runtime or device is absent
    extra: dict[str, Any] = field(default_factory=dict)  # minor_faults_per_call, bytes_per_s, compile_s, ...

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s) if self.times_s else math.nan

    @property
    def iqr_s(self) -> float:
        s = sorted(self.times_s)
        return percentile(s, 75) - percentile(s, 25)

    @property
    def min_s(self) -> float:
        return min(self.times_s) if self.times_s else math.nan

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "phase": self.spec.phase, "runtime": self.spec.runtime,
            "device": self.spec.device, "batch_size": self.spec.batch_size,
        }
        if self.spec.world_size is not None:
            d["world_size"] = self.spec.world_size
        if self.spec.threads is not None:
            d["threads"] = self.spec.threads
        if self.spec.thread_scaling:
            d["thread_scaling"] = True
        if self.skipped:
            d["skip_reason"] = self.skip_reason
        else:
            s = sorted(self.times_s)
            d.update({
                "times_s": list(self.times_s),
                "calls_per_sample": self.calls_per_sample,
                "n_samples": len(s),
                "median_s": self.median_s,
                "iqr_s": self.iqr_s,
                "min_s": s[0],
                "max_s": s[-1],
                "mean_s": statistics.fmean(s),
                # percentiles of the block averages, not of requests (per-request: latency_s)
                "block_p05_s": percentile(s, 5),
                "block_p95_s": percentile(s, 95),
            })
        d["parity"] = self.parity.to_dict() if self.parity else None
        d["warnings"] = list(self.warnings)
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Measurement":
        """Rebuild from a results.json entry; derived statistics are recomputed, not trusted."""
        world_size = d.get("world_size")
        spec = Spec(d["phase"], d["runtime"], d["device"], int(d["batch_size"]),
                    None if world_size is None else int(world_size), entry_threads(d),
                    d.get("thread_scaling") is True and entry_threads(d) is not None)
        p = d.get("parity")
        parity = Parity(
            max_abs_error=p["max_abs_error"], max_ulp=p["max_ulp"], passed=p["passed"],
            tolerance=p.get("tolerance", ""), reference=p.get("reference", ""),
        ) if p else None
        known = {"phase", "runtime", "device", "batch_size", "times_s", "calls_per_sample",
                 "n_samples", "median_s", "iqr_s", "min_s", "max_s", "mean_s", "p05_s", "p95_s",
                 "block_p05_s", "block_p95_s",
                 "parity", "warnings", "skip_reason", "world_size", "threads",
                 "thread_scaling"}
        return cls(
            spec=spec,
            times_s=tuple(float(t) for t in d.get("times_s", ())),
            calls_per_sample=int(d.get("calls_per_sample", 1)),
            parity=parity,
            warnings=tuple(d.get("warnings", ())),
            skip_reason=d.get("skip_reason"),
            extra={k: v for k, v in d.items() if k not in known},
        )
