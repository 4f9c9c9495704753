"""Orchestration: which measurements run, in what order, in which process.

Order: floors (their bandwidth judges every large-batch result) and the reference ladder, then
the training variants, then the inference runtimes. Isolation "fork" (default where the platform
has a forkserver): a worker process per runtime and variant forked from a preloaded server
(bench.forked), its companion forked from it; "runtime": a fresh interpreter each (bench.worker),
~2.5 s of imports for it and again for its companion; "none": all in this process (tests). Known skips (absent
device, CUDA graphs on a CPU, torch.compile in --quick) are recorded here."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import partial as partial_record
from typing import Any, Callable

from bench.engine.combine import combine
from bench.engine.devices import device_skip_reason, is_cuda
from bench.engine.floors import COPY_BYTES, floors_by_size
from bench.engine.ladder import ladder_rounds
from bench.engine.interrupt import interruption_reason
from bench.engine.measurement import Measurement, Spec
from bench.engine.schedule import round_robin
from bench.engine.timing import QUICK_TIMING, TimingConfig, skipped
from bench.runtimes import INFERENCE_RUNTIMES, runtime_entry, runtime_names, unavailable_reason
from bench.runtimes.base import Artifacts
from bench.runtimes.interference import interference_job, interference_record, probe_off_reason
from bench.store.fingerprint import thread_setting
from bench.runtimes.measure import INFERENCE_SIZES
from bench.training import (PARITY_EPOCHS, TRAIN_SIZES, TRAINING_VARIANTS, variant_entry, variant_names,
                            variant_skip_reason)
from bench.executors import execute_or_skip, executor
from bench.forked import can_fork_workers
from bench.instructions import METRICS, count_instructions
from bench.worker import allocator_settings
from linreg.device import DeviceError, parse_device
from linreg.errors import LinregError, did_you_mean
from linreg.limits import check_memory_gib, default_child_memory_gib

ISOLATIONS = ("runtime", "fork", "none")
DEFAULT_DEVICES = ("cpu", "cuda")  # cuda is always listed: on a CPU machine it is a skip record
QUICK_COMPILE_SKIP = "skipped in --quick: compile takes ~20 s cold"
DEFAULT_PROCESSES = 6   # 36 draws a measurement, as fast a run as 3 were (results/processes-six)
QUICK_PROCESSES = 1     # --quick: 3 rounds in one process give its 3 draws (a worker starts in ~2.5 s)


class SuiteError(LinregError):
    """A bench configuration names something that does not exist."""


class WorkerFailed(LinregError):
    """The floors' worker failed (a bound, a crash): nothing can be judged without it (exit 1)."""

    exit_code = 1


def default_threads() -> int:
    """One intra-op thread, for torch and ORT alike: the steadiest numbers on a shared machine.
    With 2 threads on 2 busy cores every parallel region waits for a descheduled thread: an eager
    [10^5, 1] forward measured 13 us with 2 threads when idle and 11 ms when another process ran;
    1 thread stayed at 22 us. linreg's training default is also 1 thread. --threads N measures
    more; it is recorded either way."""
    return 1


@dataclass(frozen=True)
class SuiteConfig:
    devices: tuple[str, ...] = DEFAULT_DEVICES
    runtimes: tuple[str, ...] = INFERENCE_RUNTIMES
    variants: tuple[str, ...] = TRAINING_VARIANTS
    batch_sizes: tuple[int, ...] = INFERENCE_SIZES
    train_sizes: tuple[int, ...] = TRAIN_SIZES
    # torch and ORT intra-op threads, equal; several: every measurement is made at each (scaling)
    threads: tuple[int, ...] = field(default_factory=lambda: (default_threads(),))
    timing: TimingConfig = TimingConfig()
    # "fork" (where there is a forkserver): forked from a preloaded server | "runtime" | "none"
    isolation: str = field(default_factory=lambda: "fork" if can_fork_workers() else "runtime")
    parity_epochs: int = PARITY_EPOCHS  # epochs each training variant is compared over
    compile_skip_reason: str | None = None  # set by --quick: torch.compile is recorded as skipped
    interference: bool = True          # probe ORT's pool slowing torch in one process
    interference_calls: int = 300
    copy_bytes: int = COPY_BYTES       # the bandwidth floor's copy (read + write)
    worker_timeout_s: float = 900.0    # a worker running longer is killed; its records: skipped
    child_memory_gib: float = field(default_factory=default_child_memory_gib)  # each worker's RLIMIT_DATA
    unchecked_onnx: bool = False       # bench --run-unchecked-onnx: a stranger's graph, in workers only
    processes: int = 1                 # worker processes per runtime/variant, round-robin (run: 3)
    reference: bool = True             # time a same-kind reference after each CPU measurement
    absent_devices: tuple[str, ...] = ()  # default devices not here ("cuda: no CUDA device"): one line
    metric: str = "time"               # "time" | "instructions": the timed suite, then a Callgrind
                                       # count of every timed CPU measurement (bench/instructions.py)
    instruction_processes: int = 2     # valgrind workers at once: counts do not depend on load

    def __post_init__(self) -> None:
        if isinstance(self.threads, int):  # one count, as before thread lists
            object.__setattr__(self, "threads", (self.threads,))
        for name in ("devices", "runtimes", "variants", "batch_sizes", "train_sizes", "threads"):
            # a name given twice is measured once, in the order first given
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))
        if not 0 < self.worker_timeout_s <= 7 * 86400:  # past a week, a hung worker is as good as unbounded
            raise SuiteError(f"worker_timeout_s must be in (0, 604800], got {self.worker_timeout_s}")
        check_memory_gib(self.child_memory_gib, error=SuiteError)
        if self.unchecked_onnx and self.isolation == "none":
            raise SuiteError("--run-unchecked-onnx runs the graph in bounded workers: use --isolation runtime or fork")
        for name, allowed in (("runtimes", runtime_names()), ("variants", variant_names())):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                hint = did_you_mean(bad[0], allowed, None)
                raise SuiteError(f"unknown {name[:-1]} {bad[0]!r}"
                                 + (hint or f" (choose from {', '.join(allowed)})"))
        if self.isolation not in ISOLATIONS:
            raise SuiteError(f"isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        if self.isolation == "fork" and not can_fork_workers():
            raise SuiteError("isolation fork needs multiprocessing's forkserver, which this platform "
                             "lacks: use isolation runtime")
        if self.processes < 1:
            raise SuiteError(f"processes must be >= 1, got {self.processes}")
        if self.metric not in METRICS:
            raise SuiteError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.instruction_processes < 1:
            raise SuiteError(f"instruction_processes must be >= 1, got {self.instruction_processes}")
        if not self.threads or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in self.threads):
            raise SuiteError(f"threads must be integers >= 1, got {list(self.threads)}")
        for name in ("batch_sizes", "train_sizes"):
            if any(int(v) < 1 for v in getattr(self, name)):
                raise SuiteError(f"{name} must all be >= 1")
        if not self.devices:
            raise SuiteError("devices must name at least one device")
        for device in self.devices:  # absent-but-known devices are recorded as skipped, typos are errors
            try:
                parse_device(device if device == device.strip().lower() else "?")
            except DeviceError:
                raise SuiteError(f"unknown device {device!r} (choose from cpu, cuda, cuda:N, mps)") from None

    @classmethod
    def quick(cls, **overrides: Any) -> "SuiteConfig":
        """Under a minute on 2 cores: fewer sizes, short min-times, no cold compiles."""
        base = cls(batch_sizes=(1, 1000, 100_000), train_sizes=(40, 10_000), timing=QUICK_TIMING,
                   compile_skip_reason=QUICK_COMPILE_SKIP, interference=False,
                   copy_bytes=100_000_000, parity_epochs=10)
        return replace(base, **overrides)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["timing"] = asdict(self.timing)
        d["threads"] = thread_setting(self.threads)
        return d


@dataclass
class SuiteResult:
    floors: dict[str, Any]
    measurements: list[Measurement]
    interference: dict[str, Any] | None
    allocator: dict[str, str]          # the MALLOC_* settings the measuring processes ran with
    partial: str | None = None         # why the run stopped early (SIGINT/SIGTERM), if it did
    ladder: dict[str, Any] | None = None  # the references on one scale (bench/engine/ladder.py)


def _split_devices(
    config: SuiteConfig, phase: str, name: str, sizes: tuple[int, ...], compiles: bool,
    extra_reason: Callable[[str], str | None], threads: int,
) -> tuple[list[str], list[Measurement]]:
    """(devices a worker measures `name` on, skip records for the others, one per size)."""
    devices: list[str] = []
    skips: list[Measurement] = []
    for device in config.devices:
        reason = (config.compile_skip_reason if compiles else None) \
            or device_skip_reason(device) or extra_reason(device)
        if reason:
            skips += [skipped(Spec(phase, name, device, size, threads=threads), reason) for size in sizes]
        else:
            devices.append(device)
    return devices, skips


def planned_jobs(config: SuiteConfig, artifacts: Artifacts | None) -> list[tuple[dict[str, Any], list[Measurement]]]:
    """(worker job or {}, skip records known up front) per runtime / variant and thread count."""
    return [p for threads in config.threads for p in _planned_at(config, artifacts, threads)]


def _planned_at(config: SuiteConfig, artifacts: Artifacts | None,
                threads: int) -> list[tuple[dict[str, Any], list[Measurement]]]:
    plan = []
    # K processes share the timed work of one: each gets min_total_s / K (its 10 samples stay)
    timing = replace(config.timing, min_total_s=config.timing.min_total_s / config.processes,
                     reference=config.reference)
    common = {"threads": threads, "timing": asdict(timing)}
    for variant in config.variants:
        devices, skips = _split_devices(config, "train_epoch", variant, config.train_sizes,
                                        variant_entry(variant).inductor,
                                        lambda device: variant_skip_reason(variant, device), threads)
        job = {"task": "training", "variant": variant, "devices": devices,
               "sizes": list(config.train_sizes), "parity_epochs": config.parity_epochs,
               **common} if devices else {}
        plan.append((job, skips))
    needs_export = artifacts is None and "no export folder given"
    for runtime in config.runtimes:
        broken = unavailable_reason(runtime)  # a plug-in that failed to import: its skip records
        entry = None if broken else runtime_entry(runtime)
        from_checkpoint = entry is not None and entry.artifact == "checkpoint"
        devices, skips = _split_devices(
            config, "inference", runtime, config.batch_sizes, entry is not None and entry.compiled,
            lambda device: broken or (None if from_checkpoint else needs_export or None)
            or _cuda_only(entry, device), threads)
        job = {"task": "inference", "runtime": runtime, "devices": devices,
               "sizes": list(config.batch_sizes), "artifacts": artifacts.to_json() if artifacts else None,
               **common} if devices else {}
        plan.append((job, skips))
    return plan


def _cuda_only(entry: Any, device: str) -> str | None:
    if entry is not None and entry.needs_cuda and not is_cuda(device):
        return f"{entry.name} runs on CUDA devices only"
    return None


def count_measurements(config: SuiteConfig) -> int:
    """How many Measurement records a run produces (skips included)."""
    return len(config.threads) * len(config.devices) * (len(config.variants) * len(config.train_sizes)
                                                        + len(config.runtimes) * len(config.batch_sizes))


def run_suite(config: SuiteConfig, artifacts: Artifacts | None,
              progress: Callable[[str], None] | None = None,
              cache_dir: str | None = None,
              started: Callable[[str], None] | None = None) -> SuiteResult:
    """Floors, then every training variant and inference runtime, each in its own worker.

    `progress` gets each measurement's label as each process finishes it (a skip once), and other
    news as text; `started` gets `phase/name, process k of K` as each worker job begins."""
    emit_progress = progress or (lambda label: None)
    job_started = started or (lambda what: None)

    execute = executor(config.isolation, cache_dir, config.worker_timeout_s, config.child_memory_gib)
    emit_progress("floors")
    floor_run, interference = _floors_and_probe(config, artifacts, execute)
    floors = floor_run["floors"]
    allocator = floor_run["process"]["allocator"] if config.isolation != "none" else allocator_settings()

    planned = planned_jobs(config, artifacts)
    jobs = [job for job, _ in planned if job]
    runs: dict[int, dict[tuple, list[Measurement]]] = {id(job): {} for job in jobs}
    for job in jobs:  # each large call's floor, by device and size
        job["floors_bytes_per_s"] = floors_by_size(floors, job["devices"], job["sizes"])
    for _, skips in planned:  # known up front: counted now, so the progress's count is true
        for m in skips:
            emit_progress(m.spec.label)
    partial = None
    try:
        for job, k in round_robin(jobs, config.processes):  # A1 B1 C1, B2 C2 A2, ...
            def keep(m: Measurement, job: dict[str, Any] = job) -> None:
                runs[id(job)].setdefault(m.spec.key, []).append(m)
                emit_progress(m.spec.label)  # each process's: a log hears of every finished one
            name = job.get("variant") or job.get("runtime")
            job_started(f"{'train_epoch' if job['task'] == 'training' else 'inference'}/{name}, "
                        f"process {k + 1} of {config.processes}")
            # per-call latency once per measurement: in the first process (the one combine keeps)
            timed_job = job if k == 0 else {**job, "timing": {**job["timing"], "latency": False}}
            execute_or_skip(timed_job, execute, keep)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: keep every finished measurement
        partial = f"interrupted by {interruption_reason(exc)}"

    measurements: list[Measurement] = []
    for job, skips in planned:
        measurements += skips
        measurements += [combine(ms) for ms in runs.get(id(job), {}).values()]
    if len(config.threads) > 1:  # several counts: each measurement's count joins its key (eager-t2)
        measurements = [replace(m, spec=replace(m.spec, thread_scaling=True)) for m in measurements]

    if config.metric == "instructions" and not partial:
        try:  # after the timing: valgrind's workers must not share the cores with a timed one
            measurements = count_instructions(measurements, artifacts, config.instruction_processes,
                                              config.worker_timeout_s, emit_progress, config.child_memory_gib,
                                              shared=config.compile_skip_reason == QUICK_COMPILE_SKIP)
        except KeyboardInterrupt as exc:  # the timed measurements stand; the counts are partial
            partial = f"interrupted by {interruption_reason(exc)} while counting instructions"
    return SuiteResult(floors, measurements, interference, allocator, partial, floor_run.get("ladder"))


def _floors_and_probe(config: SuiteConfig, artifacts: Artifacts | None,
                      execute: Callable[..., dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """The floors (bandwidth, roofline) at the first thread count: efficiencies are against them;
    the ORT interference probe runs in the same worker, after them."""
    probe = interference_job(config.interference, config.runtimes, config.threads[0], artifacts,
                             config.interference_calls)
    floor_job = {"task": "floors", "threads": config.threads[0], "timing": asdict(config.timing),
                 "copy_bytes": config.copy_bytes, "devices": list(config.devices),
                 "sizes": sorted({*config.batch_sizes, *config.train_sizes})}
    quick = config.compile_skip_reason == QUICK_COMPILE_SKIP
    floor_job["ladder"] = ladder_rounds(quick) if config.reference and "cpu" in config.devices else 0
    record = partial_record(interference_record, config.interference or probe_off_reason(quick),
                            config.runtimes, config.threads[0], config.isolation, probe)
    try:
        floor_run = execute({**floor_job, "interference": probe} if probe else floor_job, lambda m: None)
        return floor_run, record(floor_run.get("interference"))
    except RuntimeError as exc:  # the probe broke the worker: the floors again, alone
        try:
            return execute(floor_job, lambda m: None), record(None, f"{exc}")
        except RuntimeError as again:  # every efficiency stands on the floors: one line, no run
            raise WorkerFailed(f"{again}") from None

