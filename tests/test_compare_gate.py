"""The gate must not go green by measuring less, by crashing, or by measuring too few times.

Synthetic documents only (seeded samples) and a fake interleave worker: nothing is timed here.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench.compare import interleave
from bench.cli import main
from bench.compare import compare_files, results_bench_file
from bench.compare.gate import is_failure
from bench.compare.gate import MedianGate
from bench.compare.interleave import InterleaveConfig, WorkerFailure, measure_interleaved, repo_root
from bench.store.results import ResultsError, validate_results
from tests.test_compare import results_doc, run, write

SKIP = {"parity": None, "warnings": []}


def _skip(doc: dict, index: int, reason: str) -> dict:
    entry = doc["measurements"][index]
    for k in ("times_s", "calls_per_sample"):
        entry.pop(k, None)
    entry["skip_reason"] = reason
    return doc


def _verdicts(out: str) -> dict[str, str]:
    return {m["label"]: m["verdict"] for m in json.loads(out)["measurements"]}


# ---------------------------------------------------------------- 1. crashes and lost coverage

@pytest.mark.parametrize("reason", [
    "worker failed: worker for torchscript failed (RuntimeError: boom)",
    "RuntimeError: boom",
    "failed: ValueError: bad shape",
    "worker timed out after 600 s",
])
def test_a_crash_in_new_fails_the_gate(tmp_path, capsys, reason):
    a = write(tmp_path, "a.json", results_doc(0))
    b = write(tmp_path, "b.json", _skip(results_doc(1), 2, reason))
    code, out, err = run(capsys, a, b, "--json")
    assert code == 1
    assert _verdicts(out)["inference/eager/cpu/1"] == "failed in NEW"
    assert "REGRESSION: inference/eager/cpu/1 (failed in NEW" in err


def test_a_measurement_missing_from_new_fails_the_gate(tmp_path, capsys):
    new = results_doc(1)
    del new["measurements"][2]
    code, out, err = run(capsys, write(tmp_path, "a.json", results_doc(0)),
                         write(tmp_path, "b.json", new), "--json")
    assert code == 1 and _verdicts(out)["inference/eager/cpu/1"] == "lost"
    assert "REGRESSION: inference/eager/cpu/1 (lost" in err


def test_new_skipping_what_base_measured_fails_the_gate(tmp_path, capsys):
    # The device went away: NEW measures less, and a gate must not pass on measuring less.
    b = write(tmp_path, "b.json", _skip(results_doc(1), 2, "cuda: no CUDA device"))
    code, out, err = run(capsys, write(tmp_path, "a.json", results_doc(0)), b, "--json")
    assert code == 1 and _verdicts(out)["inference/eager/cpu/1"] == "lost"
    assert "no longer measures" in err


def test_skipped_alike_in_both_is_a_plain_skip(tmp_path, capsys):
    a = write(tmp_path, "a.json", _skip(results_doc(0), 2, "cuda: no CUDA device"))
    b = write(tmp_path, "b.json", _skip(results_doc(1), 2, "cuda: no CUDA device"))
    code, out, _ = run(capsys, a, b, "--json")
    assert code == 0 and _verdicts(out)["inference/eager/cpu/1"] == "skipped"


def test_a_crash_where_base_was_absent_is_still_a_failure(tmp_path, capsys):
    a = write(tmp_path, "a.json", _skip(results_doc(0), 2, "this tree has no export loaders"))
    b = write(tmp_path, "b.json", _skip(results_doc(1), 2, "failed: RuntimeError: boom"))
    code, out, _ = run(capsys, a, b, "--json")
    assert code == 1 and _verdicts(out)["inference/eager/cpu/1"] == "failed in NEW"


def test_failure_reasons_are_told_from_absences():
    assert is_failure("worker failed: x") and is_failure("KeyError: 'a'") and is_failure("failed: x")
    for absent in ("cuda: no CUDA device", "skipped in --quick: compile takes ~20 s cold",
                   "CUDA graphs need a CUDA device", "not measured: the other side could not run it", None):
        assert not is_failure(absent)


# ---------------------------------------------------------------- 2. NaN parity

def test_nan_parity_is_a_parity_failure_not_malformed_input(tmp_path, capsys):
    new = results_doc(1)
    new["measurements"][3]["parity"] = {"max_abs_error": None, "max_ulp": 4294967296, "passed": False,
                                       "tolerance": "bit-exact"}
    code, out, err = run(capsys, write(tmp_path, "a.json", results_doc(0)), write(tmp_path, "b.json", new))
    assert code == 1, err
    assert "max_abs_error -" in out and "parity failed" in out
    assert "REGRESSION: inference/onnxruntime/cpu/1 (parity failed" in err


# ---------------------------------------------------------------- 3. too few samples

def test_rounds_that_can_never_reach_alpha_are_refused(capsys):
    code, _, err = run(capsys, "--rev", "HEAD", "--rounds", "6")
    assert code == 2 and err.startswith("error: --rounds 6 can never reach p<0.002")
    assert "--rounds >= 7" in err and err.count("\n") == 1


def test_a_big_slowdown_with_too_few_samples_fails_as_inconclusive(tmp_path, capsys):
    a = write(tmp_path, "a.json", results_doc(0, n=3))
    b = write(tmp_path, "b.json", results_doc(1, {"inference/eager/cpu/1": 5.0}, n=3))
    code, out, err = run(capsys, a, b, "--json")
    assert code == 1
    assert _verdicts(out)["inference/eager/cpu/1"] == "inconclusive"
    assert "REGRESSION: inference/eager/cpu/1 (inconclusive" in err and "more samples needed" in err
    # Within the threshold, or faster: too few samples is no reason to fail.
    same = write(tmp_path, "same.json", results_doc(1, {"inference/eager/cpu/1": 0.2}, n=3))
    assert run(capsys, a, same)[0] == 0


# ---------------------------------------------------------------- 5, 6. bad files

def test_duplicate_measurements_are_bad_input(tmp_path, capsys):
    doc = results_doc(1)
    doc["measurements"].append(copy.deepcopy(doc["measurements"][2]))
    code, _, err = run(capsys, write(tmp_path, "a.json", results_doc(0)), write(tmp_path, "b.json", doc))
    assert code == 2 and "duplicates measurements[2] (inference/eager/cpu/1)" in err
    with pytest.raises(ResultsError, match="duplicates"):
        validate_results(doc)


def test_cuda_and_cuda0_in_one_file_are_duplicates(tmp_path, capsys):
    doc = results_doc(1)
    doc["measurements"] += [{"phase": "inference", "runtime": "eager", "device": d, "batch_size": 1,
                             "skip_reason": "cuda: no CUDA device", **SKIP} for d in ("cuda", "cuda:0")]
    code, _, err = run(capsys, write(tmp_path, "a.json", results_doc(0)), write(tmp_path, "b.json", doc))
    assert code == 2 and "duplicate measurement inference/eager/cuda:0/1" in err


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1.0"])
def test_non_finite_times_are_bad_input(tmp_path, capsys, bad):
    text = json.dumps(results_doc(1)).replace(
        str(results_doc(1)["measurements"][2]["times_s"][0]), bad, 1)
    path = tmp_path / "b.json"
    path.write_text(text)
    code, _, err = run(capsys, write(tmp_path, "a.json", results_doc(0)), str(path))
    # NaN/Infinity are not JSON: the strict reader refuses them before the samples are looked at
    assert code == 2 and ("times_s must be finite" in err or "is not valid JSON" in err) and err.count("\n") == 1


# ---------------------------------------------------------------- 7, 8. matching and config

def test_cuda_and_cuda0_match_across_files(tmp_path, capsys):
    base, new = results_doc(0), results_doc(1)
    base["measurements"][2]["device"] = "cuda"
    new["measurements"][2]["device"] = "cuda:0"
    code, out, _ = run(capsys, write(tmp_path, "a.json", base), write(tmp_path, "b.json", new), "--json")
    assert code == 0
    assert _verdicts(out)["inference/eager/cuda/1"] == "unchanged"


def test_differing_configs_are_warned_about(tmp_path, capsys):
    base, new = results_doc(0), results_doc(1)
    base["config"] = {"timing": {"min_samples": 5}, "isolation": "runtime", "threads": 1, "quick": True,
                      "pipeline": "run"}
    new["config"] = {**base["config"], "threads": 2, "quick": False, "pipeline": "bench"}
    code, _, err = run(capsys, write(tmp_path, "a.json", base), write(tmp_path, "b.json", new))
    assert code == 0
    assert "WARNING: CONFIGS DIFFER" in err and "threads: 1 -> 2" in err and "quick: True -> False" in err
    assert "pipeline" not in err and "ENVIRONMENTS DIFFER" not in err


# ---------------------------------------------------------------- 1, 4. the interleaved driver

class FakeWorker:
    """Stands in for a driver process: canned replies, a log of starts; NEW can be made to raise."""

    starts: list[str] = []
    fail: dict[str, Any] = {}

    def __init__(self, driver: Path, tree: Path, threads: int, inject: float, log: Path,
                 clock: str = "wall") -> None:
        self.side = log.name.split(".")[0]
        FakeWorker.starts.append(log.name)
        self._pending: list[dict[str, Any]] = []

    def send(self, request: dict[str, Any]) -> None:
        self._pending.append(request)

    def receive(self) -> dict[str, Any]:
        req = self._pending.pop(0)
        if req["cmd"] == "setup":
            skipped = {n: r for n, r in FakeWorker.fail.get(("setup", self.side), {}).items()
                       if n in req["workloads"]}
            return {"skipped": skipped, "environment": {"cpu_model": "fake", "cpu_count": 2},
                    "calls_per_chunk": {n: 1 for n in req["workloads"] if n not in skipped}}
        if (self.side, req["workload"]) in FakeWorker.fail:
            raise WorkerFailure(FakeWorker.fail[(self.side, req["workload"])], died=False)
        value = 1e-5 if self.side == "base" else 1.01e-5
        return {"time_s_per_call": value * (1 + 0.001 * len(FakeWorker.starts)),
                "minor_faults_per_call": 0.0}

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.receive()

    def close(self) -> None:
        pass


@pytest.fixture
def fake_workers(monkeypatch):
    FakeWorker.starts, FakeWorker.fail = [], {}
    monkeypatch.setattr(interleave, "Worker", FakeWorker)
    return FakeWorker


def _measure(tmp_path: Path, **kw: Any) -> tuple[dict, dict]:
    config = InterleaveConfig(workloads=("infer_eager_1", "train_eager_40"), **kw)
    return measure_interleaved(repo_root(), repo_root(), config, tmp_path)


def test_worker_pairs_restart_every_k_rounds_in_alternating_order(tmp_path, fake_workers):
    base, new = _measure(tmp_path, rounds=7, restart_every=2)
    # 7 rounds, 2 per pair: 4 pairs, started base-first, new-first, base-first, new-first.
    assert fake_workers.starts == ["base.0.log", "new.0.log", "new.1.log", "base.1.log",
                                   "base.2.log", "new.2.log", "new.3.log", "base.3.log"]
    for doc in (base, new):
        assert doc["config"]["worker_pairs"] == 4 and doc["config"]["restart_every"] == 2
        assert all(len(m["times_s"]) == 7 for m in doc["measurements"])


def _gate(base: dict, new: dict) -> Any:
    return compare_files(results_bench_file(base, "base"), results_bench_file(new, "new"), MedianGate())


def test_a_candidate_exception_while_measuring_fails_the_gate(tmp_path, fake_workers):
    fake_workers.fail[("new", "infer_eager_1")] = "RuntimeError: boom\nmore lines"
    base, new = _measure(tmp_path, rounds=8)
    entry = next(m for m in new["measurements"] if m["batch_size"] == 1)
    assert entry["skip_reason"] == "failed: RuntimeError: boom"
    c = _gate(base, new)
    assert c.exit_code == 1
    row = next(r for r in c.rows if r.label == "inference/eager/cpu/1")
    assert row.verdict == "failed in NEW" and "RuntimeError: boom" in row.note


def test_a_candidate_exception_at_setup_fails_the_gate(tmp_path, fake_workers):
    fake_workers.fail[("setup", "new")] = {"infer_eager_1": "failed: ImportError: no linreg.models"}
    base, new = _measure(tmp_path, rounds=8)
    c = _gate(base, new)
    row = next(r for r in c.rows if r.label == "inference/eager/cpu/1")
    assert c.exit_code == 1 and row.verdict == "failed in NEW" and "ImportError" in row.note


def test_a_workload_the_baseline_lacks_is_a_plain_skip(tmp_path, fake_workers):
    fake_workers.fail[("setup", "base")] = {"infer_eager_1": "this tree has no export loaders"}
    base, new = _measure(tmp_path, rounds=8)
    c = _gate(base, new)
    row = next(r for r in c.rows if r.label == "inference/eager/cpu/1")
    assert row.verdict == "skipped" and c.exit_code == 0
