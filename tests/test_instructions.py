"""Instruction counts: the Callgrind parser on recorded output, the counting arithmetic with a fake
collector, the pass without valgrind, compare's instruction gate and history's count trends.

Nothing runs valgrind here except the one `slow` test at the end (skipped where it is absent).
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from bench import instructions
from bench.engine import callgrind
from bench.engine.callgrind import (CallgrindError, CountPlan, count_workload, nondeterminism_warning,
                                    parse_totals, plan_for)
from bench.engine.measurement import Measurement, Spec
from bench.store.counts import counts_of
from tests.test_compare import results_doc, run, write

RECORDED = Path(__file__).parent / "golden" / "callgrind"
VALGRIND = shutil.which("valgrind")


# ---------------------------------------------------------------- the parser (untrusted input)

def test_recorded_dumps_parse_to_their_totals() -> None:
    # a real dump of 200 empty calls (valgrind 3.19, torch._C._valgrind_toggle_and_dump_stats)
    assert parse_totals((RECORDED / "empty_loop_200.out").read_bytes()) == 153855
    assert parse_totals((RECORDED / "at_exit.out").read_bytes()) == 0  # the dump at exit: nothing


@pytest.mark.parametrize("text, problem", [
    (b"", "no `events: Ir`"),
    (b"events: Ir\n", "no totals"),
    (b"events: Dr Ir\ntotals: 5 6\n", "no `events: Ir`"),
    (b"events: Ir\ntotals: -5\n", "no totals"),
    (b"events: Ir\ntotals: 1e9\n", "no totals"),
    (b"events: Ir\ntotals: " + b"9" * 40 + b"\n", "not a plausible count"),
    (b"\x00\xff" * 10, "no `events: Ir`"),
])
def test_malformed_output_is_an_error_not_a_number(text: bytes, problem: str) -> None:
    with pytest.raises(CallgrindError, match=problem):
        parse_totals(text, "dump")


def test_summary_serves_when_totals_is_missing_and_extra_events_are_ignored() -> None:
    assert parse_totals(b"events: Ir Dr\nsummary: 1234 99\n") == 1234
    assert parse_totals(b"events: Ir\nsummary: 5\ntotals: 7\n") == 7


def test_an_oversized_dump_is_refused() -> None:
    with pytest.raises(CallgrindError, match="over the"):
        parse_totals(b"x" * (callgrind.MAX_DUMP_BYTES + 1))


# ---------------------------------------------------------------- the counting arithmetic

class FakeCollector:
    """100 'instructions' per workload call, 7 for the toggles, 3 per empty call: like callgrind."""

    def __init__(self, drift: float = 0.0) -> None:
        self.calls = 0
        self.drift = drift
        self.counted = 0

    def workload(self) -> None:
        self.calls += 1

    def count(self, region: Callable[[], Any]) -> int:
        before = self.calls
        loop_calls = region.__closure__[0].cell_contents  # type: ignore[union-attr]
        region()
        work = self.calls - before
        self.counted += 1
        return int(7 + 3 * loop_calls + work * 100 * (1 + self.drift * self.counted))


def test_the_empty_loop_baseline_is_subtracted_and_warmups_are_not_counted() -> None:
    fake = FakeCollector()
    record = count_workload(fake.workload, CountPlan(calls=50, warmup_calls=10), fake)
    assert record["repeats_per_call"] == [100.0, 100.0]  # loop, call and toggles gone
    assert record["baseline_subtracted"] is True and record["baseline_per_call"] == pytest.approx(3.14)
    assert fake.calls == 10 + 2 * 50  # warmups ran, and each repeat ran its calls
    assert record["spread"] == 0.0 and nondeterminism_warning(record) is None


def test_a_drifting_count_warns_with_its_spread() -> None:
    fake = FakeCollector(drift=0.01)
    record = count_workload(fake.workload, CountPlan(calls=50, warmup_calls=0), fake)
    warning = nondeterminism_warning(record)
    assert warning is not None and "not deterministic" in warning and "%" in warning


def test_the_call_count_depends_on_the_size_only() -> None:
    assert plan_for(1) == plan_for(1) and plan_for(1).calls == 200
    assert plan_for(10**7).calls == 2 and plan_for(10**5).calls == 200
    assert all(plan_for(n).warmup_calls >= 2 for n in (1, 10**3, 10**7))


def test_a_process_not_under_callgrind_is_told_so(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    collector = callgrind.Collector(tmp_path)  # valgrind's client requests are no-ops here
    with pytest.raises(CallgrindError, match="running under valgrind"):
        collector.count(lambda: None)


# ---------------------------------------------------------------- the pass and what it records

def _timed(runtime: str, size: int, device: str = "cpu", phase: str = "inference") -> Measurement:
    return Measurement(Spec(phase, runtime, device, size, threads=1), (1e-6, 1.1e-6))


def test_without_valgrind_every_count_is_a_skip_with_the_install_line(monkeypatch) -> None:
    monkeypatch.setattr(instructions, "valgrind_path", lambda: None)
    out = instructions.count_instructions([_timed("eager", 1), _timed("fused", 40, phase="train_epoch")],
                                          None)
    assert [m.extra["instructions"]["skip_reason"] for m in out] == \
        ["valgrind not found: apt-get install valgrind"] * 2
    assert all("instructions_per_call" not in m.extra for m in out)


def test_cuda_compiled_and_skipped_measurements_are_not_counted() -> None:
    ms = [_timed("eager", 1, device="cuda:0"), _timed("torch_compile", 1), _timed("eager", 10),
          _timed("eager", 1000), Measurement(Spec("inference", "torchscript", "cpu", 1), skip_reason="absent")]
    jobs, skips = instructions.plan_jobs(ms, None)
    assert list(jobs) == [("inference", "eager")] and jobs[("inference", "eager")]["sizes"] == [10, 1000]
    assert skips[0] == instructions.NOT_CPU_SKIP and skips[1] == instructions.COMPILED_SKIP


def test_quick_shares_workers_between_runtimes_and_records_who_shared(monkeypatch) -> None:
    ms = [_timed("eager", 1), _timed("eager", 1000), _timed("onnxruntime", 1), _timed("torchscript", 1),
          _timed("fused", 40, phase="train_epoch")]
    seen: list[dict] = []

    def fake_run(job: dict, valgrind: str, timeout_s: float, memory_gib: float | None = None) -> dict:
        seen.append(job)
        return {key: {"repeats_per_call": [100.0, 100.0], "calls": 200} for key in instructions._names(job)}

    monkeypatch.setattr(instructions, "valgrind_path", lambda: "/usr/bin/valgrind")
    monkeypatch.setattr(instructions, "valgrind_version", lambda path: "valgrind-3.19.0")
    monkeypatch.setattr(instructions, "_run_one", fake_run)
    out = instructions.count_instructions(ms, None, processes=2, shared=True)
    assert len(seen) == 2 and [len(job["parts"]) for job in seen] == [2, 2]  # 4 runtimes in 2 workers
    assert all(m.extra["instructions_per_call"] == 100.0 for m in out)
    first = out[0].extra["instructions"]
    assert first["workers"] == "shared by runtimes (--quick)"
    assert first["shared_with"] == ["inference/eager", "inference/torchscript"]
    seen.clear()
    out = instructions.count_instructions(ms, None, processes=2)  # a full run: one worker each
    assert len(seen) == 4 and "shared_with" not in out[0].extra["instructions"]


def test_a_record_is_attached_beside_the_wall_time_with_its_method(monkeypatch) -> None:
    record = {"repeats_per_call": [1000.0, 1030.0], "spread": 0.03, "calls": 200, "warmup_calls": 100,
              "repeats": 2, "baseline_subtracted": True, "baseline_per_call": 440.0}
    m = instructions._attach(_timed("eager", 1), record, {"tool": "callgrind", "valgrind": "valgrind-3.19.0"})
    assert m.extra["instructions_per_call"] == 1015.0 and m.times_s == (1e-6, 1.1e-6)
    assert m.extra["instructions"]["valgrind"] == "valgrind-3.19.0"
    assert any("not deterministic" in w for w in m.warnings)


@pytest.mark.parametrize("record, counted", [
    ({"repeats_per_call": [5.0, 5.1], "calls": 200}, True),
    ({"repeats_per_call": [5.0, -1.0]}, False),
    ({"repeats_per_call": [5.0, True]}, False),
    ({"repeats_per_call": "5"}, False),
    ({"repeats_per_call": [1.0] * 1000}, False),
    ({"skip_reason": "valgrind not found: apt-get install valgrind"}, False),
    ("nonsense", False),
])
def test_stored_counts_are_read_as_untrusted(record: Any, counted: bool) -> None:
    counts = counts_of(record)
    assert counts is not None and counts.counted is counted
    assert counted or counts.skip_reason


# ---------------------------------------------------------------- compare's instruction gate

def counted_doc(seed: int, factor: dict[str, float] | None = None, base: float = 45_000.0,
                spread: float = 0.001) -> dict:
    """results_doc with instruction counts on every measurement (2 repeats `spread` apart)."""
    doc = results_doc(seed)
    for i, m in enumerate(doc["measurements"]):
        label = f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}"
        value = base * (i + 1) * (factor or {}).get(label, 1.0)
        m["instructions"] = {"repeats_per_call": [value, value * (1 + spread)], "calls": 200,
                             "repeats": 2, "baseline_subtracted": True, "tool": "callgrind"}
        m["instructions_per_call"] = value * (1 + spread / 2)
    return doc


SLOWED = "inference/eager/cpu/1"


def _verdicts(out: str) -> dict[str, str]:
    return {m["label"]: m["verdict"] for m in json.loads(out)["measurements"]}


def test_a_2_percent_count_increase_fails_and_time_is_reported_not_gated(tmp_path, capsys) -> None:
    a = write(tmp_path, "a.json", counted_doc(0))
    b = write(tmp_path, "b.json", counted_doc(1, {SLOWED: 1.02}))
    code, out, err = run(capsys, a, b, "--json")
    report = json.loads(out)
    assert code == 1 and report["gate"]["metric"] == "instructions" and report["gate"]["threshold"] == 0.01
    assert _verdicts(out)[SLOWED] == "slower"
    assert {v for k, v in _verdicts(out).items() if k != SLOWED} == {"unchanged"}
    row = next(m for m in report["measurements"] if m["label"] == SLOWED)
    assert row["figure"] == "instructions per call" and "wall time" in row["note"]
    assert "instructions per call" in err and "REGRESSION" in err


def test_a_null_pair_of_counts_passes_and_the_time_metric_stays_available(tmp_path, capsys) -> None:
    a = write(tmp_path, "a.json", counted_doc(0))
    b = write(tmp_path, "b.json", counted_doc(1, {SLOWED: 1.004}))
    assert run(capsys, a, b)[0] == 0
    slow_time = results_doc(1, {SLOWED: 1.5})
    slow_time["measurements"] = [{**m, "instructions": n["instructions"]} for m, n in
                                 zip(slow_time["measurements"], counted_doc(1)["measurements"])]
    c = write(tmp_path, "c.json", slow_time)
    code, out, _ = run(capsys, a, c, "--json")  # 1.5x the time, same counts: not this gate's verdict
    assert code == 0 and _verdicts(out)[SLOWED] == "unchanged"
    code, out, _ = run(capsys, a, c, "--json", "--metric", "time")
    assert code == 1 and _verdicts(out)[SLOWED] == "slower"


def test_files_without_counts_gate_on_time_and_asking_for_counts_is_an_error(tmp_path, capsys) -> None:
    a = write(tmp_path, "a.json", results_doc(0))
    b = write(tmp_path, "b.json", counted_doc(1))
    code, out, _ = run(capsys, a, b, "--json")
    assert code == 0 and json.loads(out)["gate"]["metric"] == "time"
    code, _, err = run(capsys, a, b, "--metric", "instructions")
    assert code == 2 and err.startswith("error: ") and "no instruction counts" in err


def test_a_count_lost_in_new_fails_and_a_threshold_can_be_given(tmp_path, capsys) -> None:
    new = counted_doc(1, {SLOWED: 1.02})
    new["measurements"][2]["instructions"] = {"skip_reason": "valgrind not found: apt-get install valgrind"}
    a, b = write(tmp_path, "a.json", counted_doc(0)), write(tmp_path, "b.json", new)
    code, out, _ = run(capsys, a, b, "--json", "--fail-on", "median:3%")
    assert code == 1 and "lost" in _verdicts(out).values()
    assert _verdicts(out)[SLOWED] in ("unchanged", "lost")


# ---------------------------------------------------------------- history's count trends

def test_history_flags_a_count_step_apart_from_the_times(tmp_path, capsys) -> None:
    from bench.cli import main

    files = []
    for i, factor in enumerate([1.0, 1.0, 1.02]):
        doc = counted_doc(i, {SLOWED: factor})
        doc["environment"]["git"] = {"commit": f"{i:040x}", "dirty": False}
        doc["created_utc"] = f"2026-01-0{i + 1}T00:00:00Z"
        files.append(write(tmp_path, f"r{i}.json", doc))
    store = tmp_path / "store"
    assert main(["history", "add", str(store), *files, "--machine", "box"]) == 0
    capsys.readouterr()
    assert main(["history", str(store), "--regressions"]) == 1
    out, err = capsys.readouterr()
    assert "instruction counts of 4 measurements, 1 flagged steps" in out
    assert f"REGRESSION: box: {SLOWED} 1.020x more instructions per call" in err
    assert "0 flagged steps (median:10%" in out  # the times stay their own trend


# ---------------------------------------------------------------- valgrind for real (slow)

@pytest.mark.slow
@pytest.mark.skipif(VALGRIND is None, reason="valgrind not found: apt-get install valgrind")
def test_valgrind_counts_one_small_workload_for_real() -> None:
    out = instructions.count_instructions([_timed("fused", 40, phase="train_epoch")], None, timeout_s=600)
    record = out[0].extra["instructions"]
    assert "skip_reason" not in record, record
    assert record["valgrind"].startswith("valgrind-") and record["calls"] == 200
    per_call = out[0].extra["instructions_per_call"]
    assert 10_000 < per_call < 10_000_000  # a fused step at N=40: ~160k here
    assert record["spread"] < 0.02


# ---------------------------------------------------------------- compare --rev --metric instructions

def test_rev_counts_both_trees_with_their_own_code_and_gates_the_counts(monkeypatch, capsys) -> None:
    from bench.compare import rev_counts

    ran: list[tuple[list[str], Path]] = []

    def fake_run(cmd: list[str], cwd: Path, what: str) -> None:  # no valgrind: recorded documents
        ran.append((cmd, cwd))
        if "bench" in cmd[3:4]:
            out = Path(cmd[cmd.index("--out") + 1])
            out.mkdir(parents=True)
            side_is_base = out.name == "count-base"
            doc = counted_doc(0, None if side_is_base else {SLOWED: 1.03})
            (out / "results.json").write_text(json.dumps(doc))

    monkeypatch.setattr(rev_counts, "_run", fake_run)
    from bench.cli import main

    code = main(["compare", "--rev", "HEAD", "--metric", "instructions", "--workloads", "infer_eager_1", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and _verdicts(out)[SLOWED] == "slower", err
    benches = [(cmd, cwd) for cmd, cwd in ran if cmd[3] == "bench"]
    assert [cwd.name for _, cwd in benches][0] == "base"  # the base tree runs its own bench
    assert "--metric" in benches[0][0] and "instructions" in benches[0][0]
    assert rev_counts.bench_arguments(("infer_eager_1", "train_eager_40"))[-4:] == \
        ["--batch-sizes", "1", "--train-sizes", "40"]


def test_the_metric_is_a_config_file_key(tmp_path: Path) -> None:
    from bench.cli import build_parser
    from bench.settings import reparse_with_config

    config = tmp_path / "c.toml"
    config.write_text('metric = "instructions"\ninstruction_processes = 1\n')
    argv = ["bench", "--out", str(tmp_path / "o"), "--checkpoint", "m.pth", "--config", str(config)]
    parser = build_parser()
    args = reparse_with_config(parser, parser.parse_args(argv), argv)
    assert (args.metric, args.instruction_processes) == ("instructions", 1)


def test_the_report_lists_counts_beside_the_time_and_why_some_were_not_counted() -> None:
    from bench.report.markdown import render_report

    doc = counted_doc(0)
    doc["measurements"][1]["instructions"] = {"skip_reason": "valgrind not found: apt-get install valgrind"}
    report = render_report(doc)
    assert "## Instruction counts (Callgrind)" in report and "| 45,02" in report  # 45,000 x 1.0005
    assert "not counted (1): valgrind not found: apt-get install valgrind" in report
    assert "## Instruction counts" not in render_report(results_doc(0))
