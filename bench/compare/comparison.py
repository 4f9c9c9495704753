"""Compare two benchmark files: ratios, verdicts, a gate.

Each measurement present in both files gets the ratio of medians NEW/BASE, a bootstrap interval, a
Mann-Whitney p-value and a verdict (bench/compare/gate.py). Environment fingerprints are compared
first: absolute numbers from different machines or versions are not comparable, and the report
says so.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.compare.counts import FIGURE as COUNTS_FIGURE, InstructionGate, judge_counts
from bench.compare.files import CONFIG_KEYS, BenchFile, Entry, load_bench_file
from bench.compare.gate import MedianGate, Verdict, is_failure
from bench.compare.memory import MemoryChange, memory_changes
from bench.compare.runs import to_resolve
from bench.compare.significance import RatioStats, compare_samples
from bench.compare.witness import confirmed, gate_for
from bench.store.schema import ENRICHED_FINGERPRINT_KEYS, THREAD_FINGERPRINT_KEYS
from linreg.errors import LinregError, first_line


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    base: Entry | None
    new: Entry | None
    stats: RatioStats | None
    # faster | slower | unchanged | unresolved | inconclusive | only in BASE | only in NEW | skipped |
    # parity failed | failed in NEW (crashed) | lost (BASE measured it, NEW does not)
    verdict: Verdict
    note: str = ""
    figure: str = ""   # what the ratio, interval and p-value were computed on (files.gated)
    values: tuple[float, float] = (math.nan, math.nan)  # BASE and NEW medians of that figure


@dataclass(frozen=True)
class Comparison:
    base: BenchFile
    new: BenchFile
    gate: MedianGate | InstructionGate  # one metric per comparison, never both in one verdict
    rows: tuple[Row, ...]
    env_diffs: tuple[tuple[str, Any, Any], ...]
    warnings: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    memory: tuple[MemoryChange, ...] = ()  # listed, gated only by --fail-on-memory

    @property
    def regressions(self) -> list[Row]:
        """Rows that fail the gate: significantly slower beyond the threshold, slower beyond it but
        with too few samples to tell, wrong outputs in NEW, crashed in NEW, or no longer measured."""
        return [r for r in self.rows if self.gate.is_blocking(r.verdict, r.stats)]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0


def fingerprint_diffs(base: BenchFile, new: BenchFile) -> list[tuple[str, Any, Any]]:
    """(key, base value, new value) for every fingerprint field that differs or is missing on one side.

    The enriched fields (schema v2) count only when both files carry them: a v1 file has none;
    so do the thread counts (a run of several has none: its measurements' keys carry them).
    """
    keys = list(dict.fromkeys([*base.fingerprint, *new.fingerprint]))
    return [(k, base.fingerprint.get(k), new.fingerprint.get(k))
            for k in keys if base.fingerprint.get(k) != new.fingerprint.get(k)
            and not ((k in ENRICHED_FINGERPRINT_KEYS or k in THREAD_FINGERPRINT_KEYS)
                     and (k not in base.fingerprint or k not in new.fingerprint))]


def config_diffs(base: BenchFile, new: BenchFile) -> list[tuple[str, Any, Any]]:
    """(key, base value, new value) for every CONFIG_KEYS field that both files record and differ in."""
    keys = [k for k in CONFIG_KEYS if k in base.config and k in new.config]
    return [(k, base.config[k], new.config[k]) for k in keys if base.config[k] != new.config[k]]


def _compare_entry(b: Entry, n: Entry, gate: Any, resamples: int, raw: bool = False,
                   same_environment: bool = True) -> Row:
    if n.skip_reason and not b.skip_reason:
        # BASE measured it, NEW did not: a gate must not go green by measuring less.
        if is_failure(n.skip_reason):
            return Row(b.key, b.label, b, n, None, Verdict.FAILED_IN_NEW,
                       f"BASE measured it; NEW crashed: {first_line(n.skip_reason)}")
        return Row(b.key, b.label, b, n, None, Verdict.LOST,
                   f"BASE measured it; NEW no longer measures this ({first_line(n.skip_reason)})")
    if n.skip_reason and is_failure(n.skip_reason) and not is_failure(b.skip_reason):
        return Row(b.key, b.label, b, n, None, Verdict.FAILED_IN_NEW,
                   f"NEW crashed: {first_line(n.skip_reason)}; BASE skipped: {first_line(b.skip_reason or '')}")
    if b.skip_reason or n.skip_reason:
        note = "; ".join(f"{side} skipped: {e.skip_reason}" for side, e in (("BASE", b), ("NEW", n))
                         if e.skip_reason)
        return Row(b.key, b.label, b, n, None, Verdict.SKIPPED, note)
    if n.parity_passed is False:
        note = f"NEW outputs fail parity ({n.parity_detail})"
        note += "; BASE failed too" if b.parity_passed is False else "; BASE passed: a correctness regression"
        return Row(b.key, b.label, b, n, None, Verdict.PARITY_FAILED, note)
    if gate.metric == "instructions":  # the counts decide; the wall time is only reported
        time_ratio = n.median_s / b.median_s if b.median_s > 0 else math.nan
        verdict, counted, note, values = judge_counts(b.counts, n.counts, gate, time_ratio)
        return Row(b.key, b.label, b, n, counted, verdict, note, COUNTS_FIGURE if counted else "", values)
    if len(b.times_s) < 2 or len(n.times_s) < 2:
        ratio = n.median_s / b.median_s if b.median_s > 0 else math.nan
        stats = RatioStats(ratio, ratio, ratio, math.nan, len(b.times_s), len(n.times_s), 1.0)
        return Row(b.key, b.label, b, n, stats, Verdict.INCONCLUSIVE,
                   "no raw samples, no significance test (use --benchmark-json, not autosave)")
    # host ratios only within one environment: a new torch that slows its dispatcher slows the
    # companion's reference too, and only the times show it
    base_values, figure = b.gated(n, raw, host=same_environment)
    new_values, _ = n.gated(b, raw, host=same_environment)
    stats = compare_samples(base_values, new_values, resamples=resamples)
    gate = gate_for(gate, figure, b)
    verdict, note = confirmed(gate.verdict(stats), stats, figure, b, n, gate)
    if verdict == Verdict.INCONCLUSIVE:
        note = f"{stats.n_base}/{stats.n_new} {figure} can never reach p<{gate.alpha:g}" + (
            ": slower beyond the threshold, more samples needed to tell (fails the gate)"
            if gate.is_blocking(verdict, stats) else "")
    elif verdict == Verdict.UNRESOLVED and not note:
        note = resolving_hint(stats, gate.threshold, figure)
    elif not note and b.parity_passed is False:
        note = "BASE failed parity; NEW passes"
    return Row(b.key, b.label, b, n, stats, verdict, note, figure,
               (_median(base_values), _median(new_values)))


def resolving_hint(stats: RatioStats, threshold: float, figure: str) -> str:
    """What would resolve an unresolved row: the interval narrows as 1/sqrt(n), so about
    n (half-width / room)^2 values a side, where room is the ratio's distance to the threshold
    (inside: to show unchanged; outside: to show the change). A floor, not a promise: draws of
    one process are not independent of each other."""
    n = min(stats.n_base, stats.n_new)
    if not (stats.ci_low > 0 and stats.ci_high > 0 and stats.ratio > 0) or n < 1:
        return ""
    needed = to_resolve(stats, threshold, n)
    if needed is None:
        return f"the interval reaches past {threshold:.0%} and the ratio sits at it"
    return (f"the interval reaches past {threshold:.0%}: at least ~{needed} {figure} a side would"
            f" resolve it (here {n}; more processes or rounds)")


def _median(values: tuple[float, ...]) -> float:
    return statistics.median(values) if values else math.nan


def _too_little_data(rows: list[Row], gate: Any) -> list[str]:
    few = [f"{r.label} ({r.stats.n_base}/{r.stats.n_new} {r.figure})" for r in rows
           if r.stats is not None and r.stats.min_p_value >= gate.alpha]
    return [f"too little data to ever reach p<{gate.alpha:g} (a slowdown beyond the threshold fails"
            " as inconclusive; more processes or rounds needed): " + ", ".join(few)] if few else []


class PartialBaselineError(LinregError):
    """BASE is a partial run (interrupted): not a baseline unless asked (--allow-partial)."""


LOAD_DIFFERENCE = 1.0  # one busy core more or less


def load_difference(base: dict[str, Any], new: dict[str, Any]) -> str | None:
    """A warning when the busiest 1-minute load average (start or end) of one run is a core or
    more above the other's: the two ran on differently busy machines."""
    def peak(load: dict[str, Any]) -> float | None:
        values = [v for v in (load.get("start"), load.get("end"))
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        return max(values) if values else None

    b, n = peak(base), peak(new)
    if b is None or n is None or abs(b - n) < LOAD_DIFFERENCE:
        return None
    return (f"LOAD DIFFERS: 1-minute load average up to {b:.2f} in BASE, {n:.2f} in NEW "
            "(the runs shared the machine differently)")


def compare_files(
    base: BenchFile, new: BenchFile, gate: MedianGate | InstructionGate, resamples: int = 2000,
    raw: bool = False, allow_partial: bool = False,
) -> Comparison:
    """Every measurement of both files, matched by key, with its verdict. Timed rows gate on
    what was measured: the draws' host-normalised ratios, else the draws' medians, else the raw
    samples (raw: always the raw samples; bench/compare/files.Entry.gated)."""
    if base.partial and not allow_partial:
        raise PartialBaselineError(f"{base.path}: a partial run ({base.partial}) is not a baseline"
                                   " (--allow-partial to compare against it anyway)")
    warnings: list[str] = []
    if new.partial:
        warnings.append(f"NEW is a partial run ({new.partial}): what it did not reach is LOST")
    if base.format != new.format:
        warnings.append(f"comparing a {base.format} file with a {new.format} file: names may not match")
    diffs = fingerprint_diffs(base, new)
    if diffs:
        warnings.append(
            "ENVIRONMENTS DIFFER, absolute numbers are not comparable: "
            + "; ".join(f"{k}: {bv!r} -> {nv!r}" for k, bv, nv in diffs)
        )
    if load_note := load_difference(base.load, new.load):
        warnings.append(load_note)
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
                rows.append(Row(key, b.label, b, None, None, Verdict.ONLY_IN_BASE, "missing from NEW"))
            else:
                rows.append(Row(key, b.label, b, None, None, Verdict.LOST,
                                "BASE measured it; missing from NEW"))
        else:
            rows.append(_compare_entry(b, n, gate, resamples, raw, same_environment=not diffs))
    for key, n in new.entries.items():
        if key not in base.entries:
            if n.parity_passed is False:
                verdict, note = Verdict.PARITY_FAILED, f"new measurement; NEW outputs fail parity ({n.parity_detail})"
            elif is_failure(n.skip_reason):
                verdict, note = Verdict.FAILED_IN_NEW, f"new measurement; NEW crashed: {first_line(n.skip_reason or '')}"
            else:
                verdict, note = Verdict.ONLY_IN_NEW, "new measurement"
            rows.append(Row(key, n.label, None, n, None, verdict, note))
    threads = [f"{r.label} ({r.base.threads} -> {r.new.threads})" for r in rows if r.base and r.new
               and None not in (r.base.threads, r.new.threads) and r.base.threads != r.new.threads]
    if threads:  # e.g. a one-count run at 2 threads against a [1, 2] run's 1-thread entries
        warnings.append("THREAD COUNTS DIFFER, these pairs ran with other intra-op threads: " + ", ".join(threads))
    warnings += _too_little_data(rows, gate)
    memory = memory_changes([(b.label, b.memory, new.entries[k].memory)
                             for k, b in base.entries.items() if k in new.entries])
    return Comparison(base, new, gate, tuple(rows), tuple(diffs), tuple(warnings), memory=tuple(memory))


def compare_paths(base_path: str | Path, new_path: str | Path, gate: MedianGate,
                  resamples: int = 2000) -> Comparison:
    return compare_files(load_bench_file(base_path), load_bench_file(new_path), gate, resamples)
