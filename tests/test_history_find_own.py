"""`history find --own-bench`: each step runs both commits' own `bench`, as backfill does.

Fast: on the fake-bench repository (tests/git_synthetic.py), the plumbing: a commit before the
measured code and a commit whose bench cannot import stop the walk with their reason, two
commits whose runs are the same are "not slower" in both orders, two pairs that disagree make
an inconclusive step, and the options each mode takes. Slow: a
repository carrying this checkout's whole measuring code, one commit of which makes the model's
forward really slower; find --own-bench names it from real runs of each commit's bench."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from tests.git_synthetic import fake_bench_repo
from tests.helpers import one_error_line

KEY = "inference/eager/cpu/1"


def _find(tmp_path: Path, repo: Path, spec: str, *extra: str) -> int:
    from bench.history.store import open_store

    store = open_store(tmp_path / "store", create=True)
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(b"not read by the fake bench")
    return main(["history", "find", str(store), "--commits", spec, "--repo", str(repo),
                 "--measurement", KEY, "--own-bench", "--checkpoint", str(checkpoint), *extra])


def test_runs_that_measured_the_same_are_not_a_step(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo, hashes = fake_bench_repo(tmp_path / "repo")
    assert _find(tmp_path, repo, f"{hashes[2]}..{hashes[4]}", "--quick") == 1
    out = capsys.readouterr().out
    assert "own `bench --quick`" in out
    assert out.count("s own bench in") == 4          # each end twice: both orders, nothing more
    assert "base first 1.000x" in out and "new first 1.000x" in out and "not slower" in out
    assert "find: no step beyond the threshold in the range" in out


@pytest.mark.parametrize("ends, reason", [
    ((1, 3), "predates the measured code"),
    ((2, 3), "no results.json written"),
])
def test_a_commit_that_cannot_run_names_why_and_names_no_commit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], ends: tuple[int, int], reason: str) -> None:
    repo, hashes = fake_bench_repo(tmp_path / "repo")
    assert _find(tmp_path, repo, f"{hashes[ends[0]]}..{hashes[ends[1]]}") == 1
    out = capsys.readouterr().out
    assert "failed (" in out and reason in out and "found:" not in out


def test_two_pairs_that_disagree_are_inconclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.history.find as find
    from bench.compare.gate import MedianGate
    from bench.history.commits import commit_info

    repo, hashes = fake_bench_repo(tmp_path / "repo")
    base, new = commit_info(repo, hashes[2]), commit_info(repo, hashes[4])
    verdicts = iter([find.SLOWER, find.NOT_SLOWER])  # the gate's verdict on each pair, in turn
    monkeypatch.setattr(find, "classify", lambda *args: next(verdicts))
    step = find.own_bench_steps(repo, KEY, (), lambda: tmp_path / "model.pth", MedianGate(0.10),
                                said=lambda line: None)
    result = step(base, new)
    assert result.outcome == find.INCONCLUSIVE
    assert "base first 1.000x" in result.note and ": slower" in result.note
    assert "new first 1.000x" in result.note and ": not slower" in result.note


def test_each_mode_takes_its_own_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, hashes = fake_bench_repo(tmp_path / "repo")
    spec = f"{hashes[2]}..{hashes[4]}"
    assert _find(tmp_path, repo, spec, "--rounds", "20") == 2
    one_error_line(capsys, "--rounds is not an option of history find --own-bench")
    assert main(["history", "find", str(tmp_path / "store"), "--commits", spec, "--repo", str(repo),
                 "--measurement", "infer_eager_1", "--quick"]) == 2
    one_error_line(capsys, "--quick is not an option of history find")
    assert main(["history", "find", str(tmp_path / "store"), "--commits", spec, "--repo", str(repo),
                 "--measurement", "infer_eager_1", "--own-bench"]) == 2
    one_error_line(capsys, "--own-bench takes a history key")


@pytest.mark.slow
def test_own_bench_names_the_commit_that_made_the_model_slower(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """5 commits of this checkout's measuring code; commit 3 adds ~20 us of interpreter work to
    every ~7 us forward call (about 3x, as the interleaved test's). Each step is two pairs of
    real `bench` runs (one runtime at batch 1, 18 draws each), and find names commit 3 in at
    most three steps (12 runs: ten minutes here)."""
    from bench.history.store import open_store
    from tests.git_synthetic import measuring_repo

    repo, hashes = measuring_repo(tmp_path / "repo", culprit=3, spin=800, commits=5)
    store = open_store(tmp_path / "store", create=True)
    code = main(["history", "find", str(store), "--commits", f"{hashes[0]}..{hashes[-1]}",
                 "--repo", str(repo), "--measurement", KEY, "--own-bench", "--runtimes", "eager",
                 "--variants", "eager", "--batch-sizes", "1", "--train-sizes", "40"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"found: {hashes[3]} commit 3: the slowdown" in out
    steps = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(steps) <= 3 and out.count("s own bench in") == 4 * len(steps)
