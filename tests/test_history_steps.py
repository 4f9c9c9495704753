"""Trends and step detection on synthetic series: compare's rule (beyond threshold AND significant)."""
from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.compare.gate import MedianGate
from bench.history.analysis import analyze
from bench.history.runs import Point
from bench.history.steps import judge
from bench.history.store import file_run, open_store
from bench.compare.significance import compare_samples
from tests.history_synthetic import results_doc, utc

STEP_KEY = ("inference", "eager", 1)
FLAT_KEY = ("inference", "onnxruntime", 1)


def commit(i: int) -> str:
    return f"{i:040x}"


def make_series(root: Path, factors: list[float], machine: str = "box", noise: float = 0.02,
                torch_at: int | None = None, seed: int = 0, start: int = 0) -> Path:
    """One run per commit; STEP_KEY's median is 5 us times factors[i], FLAT_KEY stays at 3 us."""
    rng = random.Random(seed)
    store = open_store(root, create=True)
    for i, factor in enumerate(factors):
        torch = "2.14.0" if torch_at is not None and i >= torch_at else "2.13.0"
        data = results_doc(machine, commit(i), utc(start + 10 * i),
                           {STEP_KEY: 5e-6 * factor, FLAT_KEY: 3e-6}, rng, samples=20, spread=noise,
                           torch=torch)
        file_run(store, data)
    return store


def test_a_20_percent_step_is_flagged_and_2_percent_noise_is_not(tmp_path: Path) -> None:
    store = make_series(tmp_path / "s", [1.0] * 6 + [1.2] * 6)
    history = analyze(store, MedianGate.parse("median:10%"))
    assert [(s.label, s.judgement.verdict) for s in history.steps] == [("inference/eager/cpu/1", "slower")]
    step = history.steps[0]
    assert (step.base.commit, step.new.commit) == (commit(5), commit(6))
    assert 1.15 < step.judgement.ratio < 1.25 and step.judgement.stats.p_value < 0.002
    assert history.regressions == []  # the newest run is 5 commits later: not carried by it
    # 2% noise within each run and 2% between runs, 20 commits: nothing flagged
    rng = random.Random(5)
    shifts = [rng.lognormvariate(0.0, 0.02) for _ in range(20)]
    noisy = analyze(make_series(tmp_path / "n", shifts, noise=0.02, seed=3), MedianGate())
    assert noisy.steps == []


def test_the_verdict_is_compares_own(tmp_path: Path) -> None:
    """judge() short-cuts only ratios within the threshold, where the gate says unchanged anyway."""
    rng = random.Random(7)
    gate = MedianGate.parse("median:5%")
    for factor in (1.0, 1.03, 1.06, 1.2, 0.8):
        base = tuple(1e-5 * rng.lognormvariate(0, 0.03) for _ in range(15))
        new = tuple(1e-5 * factor * rng.lognormvariate(0, 0.03) for _ in range(15))
        mine = judge(Point(sorted(base)[7], 0, 0, base, "median"),
                     Point(sorted(new)[7], 0, 0, new, "median"), gate)
        assert mine.verdict == gate.verdict(compare_samples(base, new))


def test_newest_run_with_a_slowdown_fails_regressions(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = make_series(tmp_path / "s", [1.0] * 5 + [1.25])
    assert main(["history", str(store), "--regressions"]) == 1
    out, err = capsys.readouterr()
    assert "inference/eager/cpu/1" in out and "slower" in out
    assert "REGRESSION: box: inference/eager/cpu/1" in err
    faster = make_series(tmp_path / "f", [1.0] * 5 + [0.75])
    assert main(["history", str(faster), "--regressions"]) == 0
    assert "faster" in capsys.readouterr().out


def test_fingerprint_changes_are_marked_and_noted_on_steps(tmp_path: Path) -> None:
    store = make_series(tmp_path / "s", [1.0] * 4 + [1.3] * 3, torch_at=4)
    history = analyze(store, MedianGate())
    (trend,) = [t for t in history.trends if t.key == "inference/eager/cpu/1"]
    changed = [tp.run.commit for tp in trend.by_machine["box"] if tp.env_change]
    assert changed == [commit(4)]
    assert "versions.torch: '2.13.0' -> '2.14.0'" in trend.by_machine["box"][4].env_change
    assert history.steps[0].env_change.startswith("versions.torch")


def test_partial_runs_are_never_a_baseline(tmp_path: Path) -> None:
    store = make_series(tmp_path / "s", [1.0, 1.0, 1.0])
    slow = results_doc("box", commit(3), utc(100), {STEP_KEY: 5e-6 * 1.5, FLAT_KEY: 3e-6},
                       random.Random(9), samples=20)
    slow["partial"] = True
    file_run(store, slow)
    file_run(store, results_doc("box", commit(4), utc(110), {STEP_KEY: 5e-6 * 1.5, FLAT_KEY: 3e-6},
                                random.Random(10), samples=20))
    history = analyze(store, MedianGate())
    # commit 3 (partial) is flagged against commit 2; commit 4 is judged against commit 2, not 3
    assert [(s.base.commit, s.new.commit) for s in history.steps] == [(commit(2), commit(4)),
                                                                     (commit(2), commit(3))]


def test_corrupt_store_files_are_reported_and_skipped(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = make_series(tmp_path / "s", [1.0] * 4)
    first = sorted((store / "box").glob("2026*.json"))[0]
    first.write_text(first.read_text()[:500])  # truncated
    (store / "box" / "20261101T090000Z_abc_garbage.json").write_text(json.dumps({"schema_version": 99}))
    (store / "box" / "notes.json").write_text("{}")
    assert main(["history", str(store)]) == 0
    out, err = capsys.readouterr()
    assert "history: 3 runs" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 3
    assert any("invalid JSON" in w for w in warnings) and any("schema" in w for w in warnings)


def test_commits_follow_git_history_with_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    hashes = []
    for i in range(3):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"c{i}"], check=True)
        hashes.append(subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                                     check=True).stdout.strip())
    store = open_store(tmp_path / "s", create=True)
    for minute, i in enumerate((2, 0, 1)):  # measured out of order (a bisection)
        file_run(store, results_doc("box", hashes[i], utc(minute), {STEP_KEY: 5e-6}, random.Random(i)))
    assert analyze(store, MedianGate()).commits == [hashes[2], hashes[0], hashes[1]]
    assert analyze(store, MedianGate(), repo).commits == hashes


def test_points_are_measured_times_and_a_rescaled_estimate_makes_no_step(tmp_path: Path) -> None:
    """A v3 run's estimate_s is what it measured; a v2 reference-ratio estimate (rescaled by a
    stored scale) is not shown as a time, and the step gate reads the raw samples, not copies."""
    from bench.engine.estimate import METHOD
    from bench.history.runs import MEASURED

    store = make_series(tmp_path / "s", [1.0, 1.0])
    data = results_doc("box", commit(2), utc(50), {STEP_KEY: 5e-6, FLAT_KEY: 3e-6}, random.Random(4),
                       samples=20)
    entry = next(e for e in data["measurements"] if e["runtime"] == "eager")
    entry["estimate_s"] = 7.5e-6  # the raw median says 5 us; a stored scale said 7.5 us (v2)
    entry["estimate"] = {"method": "reference-ratio", "interval_s": [7.2e-6, 7.9e-6]}
    file_run(store, data)
    history = analyze(store, MedianGate())
    (trend,) = [t for t in history.trends if t.key == "inference/eager/cpu/1"]
    newest = trend.by_machine["box"][-1].point
    # the draws' fast state, recomputed (each synthetic sample is a draw): never the 7.5 us
    assert newest.source.startswith("fast state") and newest.value_s == pytest.approx(5e-6, rel=0.05)
    assert newest.samples_s == tuple(entry["times_s"])  # the measured samples, untouched
    assert not [s for s in history.steps if s.label == "inference/eager/cpu/1"]
    # a v3 run: its estimate_s (the fast state of its draws' medians) is the point, with its interval
    data = results_doc("box", commit(3), utc(60), {STEP_KEY: 5e-6, FLAT_KEY: 3e-6}, random.Random(5),
                       samples=20)
    entry = next(e for e in data["measurements"] if e["runtime"] == "eager")
    entry["estimate_s"] = 5.05e-6
    entry["estimate"] = {"method": METHOD, "interval_s": [4.9e-6, 5.2e-6]}
    file_run(store, data)
    newest = [t for t in analyze(store, MedianGate()).trends
              if t.key == "inference/eager/cpu/1"][0].by_machine["box"][-1].point
    assert (newest.source, newest.value_s, newest.low_s, newest.high_s) == (MEASURED, 5.05e-6, 4.9e-6, 5.2e-6)


def test_one_run_off_is_an_outlier_and_a_step_must_persist(tmp_path: Path) -> None:
    """A, B at 1.3x, C back at A: neither a slowdown nor a speed-up (results/history-self-default
    had this pair from one run whose reference was refused and whose times sat in a slow phase)."""
    gate = MedianGate.parse("median:10%")
    outlier = analyze(make_series(tmp_path / "o", [1.0] * 5 + [1.3] + [1.0] * 5), gate)
    assert outlier.steps == []
    lasting = analyze(make_series(tmp_path / "l", [1.0] * 5 + [1.3] * 6), gate)
    assert [(s.base.commit, s.new.commit, s.judgement.verdict) for s in lasting.steps] == [
        (commit(4), commit(5), "slower")]
    newest = analyze(make_series(tmp_path / "n", [1.0] * 5 + [1.3]), gate)  # nothing after it to confirm
    assert [s.new.commit for s in newest.regressions] == [commit(5)]
