"""Compare two benchmark files (results.json v1 or pytest-benchmark JSON): ratios, verdicts, a gate.

Each measurement present in both files gets the ratio of medians NEW/BASE, a bootstrap interval, a
Mann-Whitney p-value and a verdict (bench/gate.py). Environment fingerprints are compared first:
absolute numbers from different machines or versions are not comparable, and the report says so.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.gate import MedianGate
from bench.schema import FINGERPRINT_KEYS, SUPPORTED_SCHEMA_VERSIONS
from bench.significance import RatioStats, compare_samples
from linreg.errors import LinregError, first_line
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

# Verdicts that fail the gate on their own (plus "inconclusive" with a slower ratio, see MedianGate).
FAILING_VERDICTS = ("slower", "parity failed", "failed in NEW", "lost")

# A skip_reason that records a crash rather than an absence: the suite's crashed worker, the
# interleave driver's failed setup, or a bare exception text ("RuntimeError: boom").
_FAILURE_RE = re.compile(r"^(worker (failed|timed out|died)|failed\b|[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b)")


class CompareInputError(LinregError):
    """A file given to `compare` is missing, unreadable or of an unknown format or version."""


def is_failure(skip_reason: str | None) -> bool:
    """Whether a skip_reason says the measurement crashed (as opposed to: not available here)."""
    return bool(skip_reason) and _FAILURE_RE.match(skip_reason.strip()) is not None


def normalize_device(device: str) -> str:
    """`cuda:0` and `cuda` are the same device (index 0 is the default one)."""
    device = str(device).strip().lower()
    return device[:-2] if device.endswith(":0") else device


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


@dataclass(frozen=True)
class BenchFile:
    path: str
    format: str                       # RESULTS_FORMAT | PYTEST_FORMAT
    entries: dict[str, Entry]
    fingerprint: dict[str, Any]       # dotted key -> value, only the keys that must match
    revision: str = ""                # git commit, when the file records one
    config: dict[str, Any] = field(default_factory=dict)  # CONFIG_KEYS of a results.json's config


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    base: Entry | None
    new: Entry | None
    stats: RatioStats | None
    # faster | slower | unchanged | inconclusive | only in BASE | only in NEW | skipped |
    # parity failed | failed in NEW (crashed) | lost (BASE measured it, NEW does not)
    verdict: str
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    base: BenchFile
    new: BenchFile
    gate: MedianGate
    rows: tuple[Row, ...]
    env_diffs: tuple[tuple[str, Any, Any], ...]
    warnings: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def regressions(self) -> list[Row]:
        """Rows that fail the gate: significantly slower beyond the threshold, slower beyond it but
        with too few samples to tell, wrong outputs in NEW, crashed in NEW, or no longer measured."""
        return [r for r in self.rows
                if r.verdict in FAILING_VERDICTS or self.gate.is_blocking(r.verdict, r.stats)]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


# ---------------------------------------------------------------- loading

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
    from bench.results import measurements_of, validate_results

    validate_results(data, path)  # ResultsError naming the file and the bad entry
    measurements = measurements_of(data)
    entries: dict[str, Entry] = {}
    for m in measurements:
        label = m.spec.label
        key = match_key(m.spec.phase, m.spec.runtime, m.spec.device, m.spec.batch_size)
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
        )
    return entries


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
    fingerprint = {k: v for k in FINGERPRINT_KEYS if (v := _env_value(env, k)) is not None}
    git = env.get("git") if isinstance(env, dict) else None
    revision = git.get("commit", "") if isinstance(git, dict) else ""
    cfg = data.get("config") or {}
    config = {k: cfg[k] for k in CONFIG_KEYS if isinstance(cfg, dict) and k in cfg}
    return BenchFile(path, RESULTS_FORMAT, entries, fingerprint, revision or "", config)


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


# ---------------------------------------------------------------- comparing

def fingerprint_diffs(base: BenchFile, new: BenchFile) -> list[tuple[str, Any, Any]]:
    """(key, base value, new value) for every fingerprint field that differs or is missing on one side."""
    keys = list(dict.fromkeys([*base.fingerprint, *new.fingerprint]))
    return [(k, base.fingerprint.get(k), new.fingerprint.get(k))
            for k in keys if base.fingerprint.get(k) != new.fingerprint.get(k)]


def config_diffs(base: BenchFile, new: BenchFile) -> list[tuple[str, Any, Any]]:
    """(key, base value, new value) for every CONFIG_KEYS field that both files record and differ in."""
    keys = [k for k in CONFIG_KEYS if k in base.config and k in new.config]
    return [(k, base.config[k], new.config[k]) for k in keys if base.config[k] != new.config[k]]


def _compare_entry(b: Entry, n: Entry, gate: MedianGate, resamples: int) -> Row:
    if n.skip_reason and not b.skip_reason:
        # BASE measured it, NEW did not: a gate must not go green by measuring less.
        if is_failure(n.skip_reason):
            return Row(b.key, b.label, b, n, None, "failed in NEW",
                       f"BASE measured it; NEW crashed: {first_line(n.skip_reason)}")
        return Row(b.key, b.label, b, n, None, "lost",
                   f"BASE measured it; NEW no longer measures this ({first_line(n.skip_reason)})")
    if n.skip_reason and is_failure(n.skip_reason) and not is_failure(b.skip_reason):
        return Row(b.key, b.label, b, n, None, "failed in NEW",
                   f"NEW crashed: {first_line(n.skip_reason)}; BASE skipped: {first_line(b.skip_reason or '')}")
    if b.skip_reason or n.skip_reason:
        note = "; ".join(f"{side} skipped: {e.skip_reason}" for side, e in (("BASE", b), ("NEW", n))
                         if e.skip_reason)
        return Row(b.key, b.label, b, n, None, "skipped", note)
    if n.parity_passed is False:
        note = f"NEW outputs fail parity ({n.parity_detail})"
        note += "; BASE failed too" if b.parity_passed is False else "; BASE passed: a correctness regression"
        return Row(b.key, b.label, b, n, None, "parity failed", note)
    if len(b.times_s) < 2 or len(n.times_s) < 2:
        ratio = n.median_s / b.median_s if b.median_s > 0 else math.nan
        stats = RatioStats(ratio, ratio, ratio, math.nan, len(b.times_s), len(n.times_s), 1.0)
        return Row(b.key, b.label, b, n, stats, "inconclusive",
                   "no raw samples, no significance test (use --benchmark-json, not autosave)")
    stats = compare_samples(b.times_s, n.times_s, resamples=resamples)
    verdict = gate.verdict(stats)
    note = ""
    if verdict == "inconclusive":
        note = f"n={stats.n_base}/{stats.n_new} can never reach p<{gate.alpha:g}"
        if gate.is_blocking(verdict, stats):
            note += ": slower beyond the threshold, more samples needed to tell (fails the gate)"
    elif b.parity_passed is False:
        note = "BASE failed parity; NEW passes"
    return Row(b.key, b.label, b, n, stats, verdict, note)


def compare_files(
    base: BenchFile, new: BenchFile, gate: MedianGate, resamples: int = 2000
) -> Comparison:
    """Every measurement of both files, matched by key, with its verdict."""
    warnings: list[str] = []
    if base.format != new.format:
        warnings.append(f"comparing a {base.format} file with a {new.format} file: names may not match")
    diffs = fingerprint_diffs(base, new)
    if diffs:
        warnings.append(
            "ENVIRONMENTS DIFFER, absolute numbers are not comparable: "
            + "; ".join(f"{k}: {bv!r} -> {nv!r}" for k, bv, nv in diffs)
        )
    cdiffs = config_diffs(base, new)
    if cdiffs:
        warnings.append(
            "CONFIGS DIFFER, the two runs measured differently: "
            + "; ".join(f"{k}: {bv!r} -> {nv!r}" for k, bv, nv in cdiffs)
        )
    rows: list[Row] = []
    for key, b in base.entries.items():
        n = new.entries.get(key)
        if n is None:
            if b.skip_reason:
                rows.append(Row(key, b.label, b, None, None, "only in BASE", "missing from NEW"))
            else:
                rows.append(Row(key, b.label, b, None, None, "lost",
                                "BASE measured it; missing from NEW"))
        else:
            rows.append(_compare_entry(b, n, gate, resamples))
    for key, n in new.entries.items():
        if key not in base.entries:
            if n.parity_passed is False:
                verdict, note = "parity failed", f"new measurement; NEW outputs fail parity ({n.parity_detail})"
            elif is_failure(n.skip_reason):
                verdict, note = "failed in NEW", f"new measurement; NEW crashed: {first_line(n.skip_reason or '')}"
            else:
                verdict, note = "only in NEW", "new measurement"
            rows.append(Row(key, n.label, None, n, None, verdict, note))
    few = [r.label for r in rows if r.stats is not None and r.stats.min_p_value >= gate.alpha]
    if few:
        warnings.append(f"too few samples to ever reach p<{gate.alpha:g} (a slowdown beyond the "
                        "threshold fails as inconclusive, more samples needed): "
                        + ", ".join(few))
    return Comparison(base, new, gate, tuple(rows), tuple(diffs), tuple(warnings))


def compare_paths(base_path: str | Path, new_path: str | Path, gate: MedianGate,
                  resamples: int = 2000) -> Comparison:
    return compare_files(load_bench_file(base_path), load_bench_file(new_path), gate, resamples)


# ---------------------------------------------------------------- rendering

def format_time(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _cells(row: Row) -> list[str]:
    s = row.stats
    ratio = "-" if s is None or not math.isfinite(s.ratio) else f"{s.ratio:.3f}"
    ci = "-" if s is None or not math.isfinite(s.ci_low) else f"[{s.ci_low:.3f}, {s.ci_high:.3f}]"
    p = "-" if s is None or not math.isfinite(s.p_value) else f"{s.p_value:.2g}"
    return [
        row.label,
        format_time(row.base.median_s) if row.base else "-",
        format_time(row.new.median_s) if row.new else "-",
        ratio, ci, p, row.verdict, row.note,
    ]


HEADERS = ["measurement", "BASE median", "NEW median", "NEW/BASE", "95% CI", "p (MWU)", "verdict", "note"]


def _split_rows(c: Comparison) -> tuple[list[Row], dict[str, int]]:
    """Rows worth a line each, and {reason: count} of those skipped alike in both files.

    A run without a GPU skips dozens of cuda entries for the same reason; one line says it.
    A row skipped on one side only stays in the table: coverage was gained or lost there.
    """
    shown: list[Row] = []
    both: dict[str, int] = {}
    for r in c.rows:
        if (r.verdict == "skipped" and r.base is not None and r.new is not None
                and r.base.skip_reason and r.base.skip_reason == r.new.skip_reason):
            both[r.base.skip_reason] = both.get(r.base.skip_reason, 0) + 1
        else:
            shown.append(r)
    return shown, both


def _skipped_lines(both: dict[str, int]) -> list[str]:
    if not both:
        return []
    total = sum(both.values())
    return [f"skipped in both ({total}): " + "; ".join(
        f"{reason} ({count})" for reason, count in sorted(both.items(), key=lambda kv: -kv[1]))]


def _summary_lines(c: Comparison) -> list[str]:
    lines = [f"gate: {c.gate.label}"]
    if c.regressions:
        lines.append(f"REGRESSED ({len(c.regressions)}): " + ", ".join(
            f"{r.label} ({r.verdict})" for r in c.regressions))
    else:
        lines.append("no significant regression")
    return lines


def render_text(c: Comparison) -> str:
    shown, both = _split_rows(c)
    rows = [HEADERS] + [_cells(r) for r in shown]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    out = [f"BASE: {c.base.path}" + (f" ({c.base.revision[:12]})" if c.base.revision else ""),
           f"NEW:  {c.new.path}" + (f" ({c.new.revision[:12]})" if c.new.revision else "")]
    out += [f"WARNING: {w}" for w in c.warnings]
    for i, r in enumerate(rows):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out += _skipped_lines(both)
    out += _summary_lines(c)
    return "\n".join(out) + "\n"


def render_markdown(c: Comparison) -> str:
    out = [f"**linreg-bench compare**: `{c.base.path}` → `{c.new.path}`", ""]
    out += [f"> ⚠️ **WARNING:** {w}" for w in c.warnings]
    if c.warnings:
        out.append("")
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("|" + "|".join("---" for _ in HEADERS) + "|")
    shown, both = _split_rows(c)
    regressions = c.regressions
    for r in shown:
        cells = [x.replace("|", "\\|") for x in _cells(r)]
        if r in regressions:
            cells[6] = f"**{cells[6]}**"
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [f"{line}  " for line in _skipped_lines(both) + _summary_lines(c)]
    return "\n".join(out) + "\n"


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def to_json(c: Comparison) -> dict[str, Any]:
    def entry(e: Entry | None) -> dict[str, Any] | None:
        if e is None:
            return None
        return {"median_s": _num(e.median_s), "n_samples": len(e.times_s), "skip_reason": e.skip_reason,
                "parity_passed": e.parity_passed}
    return {
        "base": {"path": c.base.path, "format": c.base.format, "revision": c.base.revision},
        "new": {"path": c.new.path, "format": c.new.format, "revision": c.new.revision},
        "gate": {"field": "median", "threshold": c.gate.threshold, "alpha": c.gate.alpha},
        "environment_differs": bool(c.env_diffs),
        "environment_diffs": [{"key": k, "base": b, "new": n} for k, b, n in c.env_diffs],
        "warnings": list(c.warnings),
        "measurements": [
            {
                "key": r.key, "label": r.label, "verdict": r.verdict, "note": r.note,
                "base": entry(r.base), "new": entry(r.new),
                "ratio": _num(r.stats.ratio) if r.stats else None,
                "ci_low": _num(r.stats.ci_low) if r.stats else None,
                "ci_high": _num(r.stats.ci_high) if r.stats else None,
                "p_value": _num(r.stats.p_value) if r.stats else None,
            }
            for r in c.rows
        ],
        "regressions": [r.label for r in c.regressions],
        "exit_code": c.exit_code,
        **({"meta": c.meta} if c.meta else {}),
    }


def render_json(c: Comparison) -> str:
    return json.dumps(to_json(c), indent=2, default=str) + "\n"
