"""The two kinds of benchmark file `compare` reads: results.json (v1) and pytest-benchmark JSON.

Each is reduced to Entries (raw samples, skip reason, parity verdict) keyed by what two files
are matched on, plus the environment fingerprint that must match before absolute numbers compare.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.engine.estimate import small_spread
from bench.store.results import measurements_of, validate_results
from bench.store.counts import Counts, counts_of, positive as _positive
from bench.store.schema import FINGERPRINT_KEYS, SUPPORTED_SCHEMA_VERSIONS
from linreg.device import DeviceError, parse_device
from linreg.errors import LinregError
from linreg.untrusted import (UntrustedFileError, load_json, require_int, require_number, require_samples,
                              require_text, require_type)

RESULTS_FORMAT = "results.json"
PYTEST_FORMAT = "pytest-benchmark"

# Older or flatter environments (linreg.environment.collect_environment) spell some keys differently.
_ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "versions.torch": ("torch",),
    "versions.numpy": ("numpy",),
    "versions.python": ("python",),
    "versions.onnxruntime": ("onnxruntime",),
    "versions.onnx": ("onnx",),
    "threads.torch": ("torch_threads",),
}

# machine_info fields that must match; the last ones come from tests/benchmarks/conftest.py.
PYTEST_FINGERPRINT_KEYS = (
    "cpu.brand_raw", "cpu.count", "machine", "system", "python_implementation", "python_version",
    "torch_version", "onnxruntime_version", "onnx_version", "numpy_version", "cuda_version",
    "gpu_name", "gpu_driver", "torch_threads", "torch_interop_threads", "ort_intra_op_threads",
    "allocator",
)


# results.json config fields that change what a number means; a difference is warned about.
CONFIG_KEYS = ("timing", "isolation", "threads", "quick")


class CompareInputError(LinregError):
    """A file given to `compare` is missing, unreadable or of an unknown format or version."""

def normalize_device(device: str) -> str:
    """`cuda:0` and `cuda` are the same device (index 0 is the default one)."""
    text = str(device).strip().lower()
    try:
        spec = parse_device(text)
    except DeviceError:
        return text  # a device this version does not know: matched on its text
    return spec.kind if spec.kind != "cuda" or not spec.ordinal else f"cuda:{spec.ordinal}"


def match_key(phase: Any, runtime: Any, device: Any, batch_size: Any) -> str:
    """What two files' measurements are matched on: phase/runtime/device/batch, device normalized."""
    return f"{phase}/{runtime}/{normalize_device(device)}/{batch_size}"


def _fmt_opt(value: Any, spec: str) -> str:
    """A number formatted with `spec`, or "-" when it is missing or not finite (NaN parity errors)."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    try:
        if isinstance(value, float) and not math.isfinite(value):
            return "-"
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class Entry:
    """One measurement of one file, reduced to what a comparison needs."""

    key: str                          # what two files are matched on
    label: str                        # phase/runtime/device/batch, or the pytest-benchmark name
    times_s: tuple[float, ...] = ()   # raw samples
    median_s: float = math.nan        # from the samples, or the file's own when it kept none
    skip_reason: str | None = None
    parity_passed: bool | None = None
    parity_detail: str = ""
    memory: dict[str, Any] | None = None  # schema v2: peak memory of the measurement
    estimate_s: float | None = None   # schema v2+: estimate_s (v3: what the run measured)
    threads: int | None = None        # intra-op threads it ran with, where the file says
    draws_s: tuple[float, ...] = ()   # schema v2+: each draw's median (processes x rounds), measured
    host_ratios: tuple[float, ...] = ()  # schema v3: each draw's host-normalised ratio...
    host_reference: str | None = None    # ...against this companion reference kind
    host_usable: bool = False            # ...and whether the run judged it fit to gate on
    counts: Counts | None = None         # v3 --metric instructions: instructions per call, or why not

    def gated(self, other: "Entry", raw: bool = False,
              host: bool = True) -> tuple[tuple[float, ...], str]:
        """(values, what they are) that the gate compares with `other`'s: what was measured,
        never rescaled. The draws' host-normalised ratios where both runs have usable ones of one
        reference kind (the host's state cancels, the process's own does not); else the draws'
        medians (a draw is an independent instance: samples within one are not); else, for files
        that keep no draws (v1, pytest-benchmark) or with --raw, the raw samples."""
        if raw:
            return self.times_s, RAW_SAMPLES
        if (host and self.host_usable and other.host_usable and self.host_reference == other.host_reference
                and len(self.host_ratios) >= MIN_DRAWS and len(other.host_ratios) >= MIN_DRAWS):
            return self.host_ratios, HOST_RATIOS
        if len(self.draws_s) >= MIN_DRAWS and len(other.draws_s) >= MIN_DRAWS:
            return self.draws_s, DRAW_MEDIANS
        return self.times_s, RAW_SAMPLES


RAW_SAMPLES = "raw samples"
DRAW_MEDIANS = "draw medians"
HOST_RATIOS = "host-normalised ratios"
MIN_DRAWS = 3


@dataclass(frozen=True)
class BenchFile:
    path: str
    format: str                       # RESULTS_FORMAT | PYTEST_FORMAT
    entries: dict[str, Entry]
    fingerprint: dict[str, Any]       # dotted key -> value, only the keys that must match
    revision: str = ""                # git commit, when the file records one
    config: dict[str, Any] = field(default_factory=dict)  # CONFIG_KEYS of a results.json's config
    partial: str | None = None        # why the run stopped early (results.json "partial": true)
    load: dict[str, Any] = field(default_factory=dict)  # environment.loadavg_1m {start, end}


def _read_json(path: str | Path) -> Any:
    p = Path(path)
    if p.is_dir():
        raise CompareInputError(f"{p}: is a folder, expected a results.json or pytest-benchmark JSON")
    try:
        return load_json(p)  # regular files only, size and depth bounded: /dev/zero is refused
    except UntrustedFileError as exc:
        raise CompareInputError(str(exc)) from None


def _dotted(d: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _env_value(env: dict[str, Any], key: str) -> Any:
    value = _dotted(env, key)
    for alias in _ENV_ALIASES.get(key, ()):
        if value is None:
            value = _dotted(env, alias)
    return value


def _results_entries(data: dict[str, Any], path: str) -> dict[str, Entry]:
    validate_results(data, path)  # ResultsError naming the file and the bad entry
    version = data["schema_version"]
    measurements = measurements_of(data)
    entries: dict[str, Entry] = {}
    for m in measurements:
        label = m.spec.label
        key = match_key(m.spec.phase, m.spec.runtime_label, m.spec.device, m.spec.batch_size)
        if key in entries:
            raise CompareInputError(
                f"{path}: duplicate measurement {label} (same as {entries[key].label})")
        parity = m.parity
        entries[key] = Entry(
            key=key,
            label=label,
            times_s=tuple(m.times_s),
            median_s=m.median_s,
            skip_reason=m.skip_reason,
            parity_passed=None if parity is None else bool(parity.passed),
            parity_detail="" if parity is None else
            f"max_abs_error {_fmt_opt(parity.max_abs_error, '.3g')}, "
            f"max_ulp {_fmt_opt(parity.max_ulp, 'd')} ({parity.tolerance})",
            memory=m.extra.get("memory") if isinstance(m.extra.get("memory"), dict) else None,
            estimate_s=_positive(m.extra.get("estimate_s")),
            threads=m.spec.threads,
            draws_s=_draw_medians(m.extra.get("processes")),
            counts=counts_of(m.extra.get("instructions")),
            **(_host_of(m.extra.get("estimate")) if version >= 3 else {}),
        )
    return entries


def _draw_medians(processes: Any) -> tuple[float, ...]:
    """Each draw's median from a results.json `processes` list (untrusted: all or nothing)."""
    if not isinstance(processes, list):
        return ()
    draws = [d for p in processes if isinstance(p, dict) and isinstance(p.get("draws"), list)
             for d in p["draws"]]
    values = [_positive(d.get("median_s")) if isinstance(d, dict) else None for d in draws]
    return tuple(values) if values and None not in values else ()  # type: ignore[arg-type]


def _host_of(est: Any) -> dict[str, Any]:
    """The host-normalised ratio of a v3 estimate object (untrusted: checked, all or nothing)."""
    host = est.get("host") if isinstance(est, dict) else None
    if not isinstance(host, dict) or not isinstance(host.get("draw_ratios"), list):
        return {}
    ratios = [_positive(r) for r in host["draw_ratios"]]
    kind = host.get("reference")
    if not ratios or None in ratios or not isinstance(kind, str) or len(kind) > 40:
        return {}
    # usable as the run judged it, or by the small-spread rule (bench/engine/estimate.py), which
    # older files predate: it reads only the ratios the file stores
    return {"host_ratios": tuple(ratios), "host_reference": kind,
            "host_usable": host.get("usable") is True or small_spread(ratios)}


def _load_results(data: dict[str, Any], path: str) -> BenchFile:
    version = data.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise CompareInputError(
            f"{path}: unknown schema_version {version!r} "
            f"(this linreg-bench reads {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})"
        )
    try:
        entries = _results_entries(data, path)
    except LinregError as exc:
        raise CompareInputError(str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CompareInputError(f"{path}: malformed measurements ({type(exc).__name__}: {exc})") from None
    env = data.get("environment") or {}
    # a run of several thread counts records them as a list: each measurement's key carries its
    # own count then (eager-t2), so the list is not a fingerprint that must match
    fingerprint = {k: v for k in FINGERPRINT_KEYS
                   if (v := _env_value(env, k)) is not None and not isinstance(v, list)}
    git = env.get("git") if isinstance(env, dict) else None
    revision = git.get("commit") if isinstance(git, dict) else None
    if revision is not None and not isinstance(revision, str):  # found by the fuzzer: it is printed
        raise CompareInputError(f"{path}: field environment.git.commit: expected a string, "
                                f"got {type(revision).__name__}")
    cfg = data.get("config") or {}
    config = {k: cfg[k] for k in CONFIG_KEYS if isinstance(cfg, dict) and k in cfg}
    partial = data.get("partial") is True
    load = env.get("loadavg_1m") if isinstance(env, dict) else None
    return BenchFile(path, RESULTS_FORMAT, entries, fingerprint, revision or "", config,
                     str(data.get("partial_reason") or "interrupted") if partial else None,
                     load if isinstance(load, dict) else {})


def _load_pytest(data: dict[str, Any], path: str) -> BenchFile:
    entries: dict[str, Entry] = {}
    try:
        for i, b in enumerate(data["benchmarks"]):
            where = f"benchmarks[{i}]"
            extra = require_type(require_type(b, dict, path, where).get("extra_info") or {}, dict, path,
                                 f"{where}.extra_info")
            if all(k in extra for k in ("phase", "runtime", "device", "batch_size")):
                for k in ("phase", "runtime", "device"):
                    require_text(extra[k], path, f"{where}.extra_info.{k}")
                require_int(extra["batch_size"], path, f"{where}.extra_info.batch_size", minimum=1)
                label = f"{extra['phase']}/{extra['runtime']}/{extra['device']}/{extra['batch_size']}"
                key = match_key(extra["phase"], extra["runtime"], extra["device"], extra["batch_size"])
            else:
                key = label = require_text(b.get("fullname") or b.get("name"), path, f"{where}.name")
            if key in entries:
                raise CompareInputError(f"{path}: duplicate benchmark {label}")
            stats = require_type(b.get("stats") or {}, dict, path, f"{where}.stats")
            times = tuple(require_samples(stats.get("data") or [], path, f"{where}.stats.data"))
            median = (statistics.median(times) if times
                      else require_number(stats.get("median"), path, f"{where}.stats.median", positive=True))
            entries[key] = Entry(key=key, label=label, times_s=times, median_s=median)
    except UntrustedFileError as exc:
        raise CompareInputError(str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CompareInputError(f"{path}: malformed benchmarks ({type(exc).__name__}: {exc})") from None
    try:
        info = require_type(data.get("machine_info") or {}, dict, path, "machine_info")
        commit = require_type(data.get("commit_info") or {}, dict, path, "commit_info")
    except UntrustedFileError as exc:
        raise CompareInputError(str(exc)) from None
    fingerprint = {k: v for k in PYTEST_FINGERPRINT_KEYS if (v := _dotted(info, k)) is not None}
    return BenchFile(path, PYTEST_FORMAT, entries, fingerprint, str(commit.get("id") or ""))


def results_bench_file(data: dict[str, Any], name: str) -> BenchFile:
    """A results.json document already in memory (the interleaved run builds two)."""
    return _load_results(data, name)


def load_bench_file(path: str | Path) -> BenchFile:
    """Read a results.json (schema v1) or a pytest-benchmark --benchmark-json file; detects which."""
    data = _read_json(path)
    p = str(path)
    if isinstance(data, dict) and "schema_version" in data:
        return _load_results(data, p)
    if isinstance(data, dict) and isinstance(data.get("benchmarks"), list) and "machine_info" in data:
        return _load_pytest(data, p)
    raise CompareInputError(
        f"{p}: neither a linreg-bench results.json (no schema_version) nor pytest-benchmark JSON"
    )
