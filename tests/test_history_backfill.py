"""`history backfill`: a synthetic git repository whose commits carry their own (fake, fast) bench:
runs and failure records filed oldest first, the commit before the bench named and skipped,
resume after an interruption, bad ranges as one `error:` line, the dashboard's ancestry order."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.history import backfill as backfill_module
from bench.history.commits import sample
from tests.git_synthetic import commit, fake_bench_repo
from tests.helpers import one_error_line


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    return fake_bench_repo(tmp_path / "repo")


def _backfill(repo: Path, store: Path, spec: str, *extra: str) -> int:
    checkpoint = store.parent / "model.pth"
    checkpoint.write_bytes(b"not read by the fake bench")
    return main(["history", "backfill", str(store), "--commits", spec, "--repo", str(repo),
                 "--checkpoint", str(checkpoint), "--machine", "box", "--quick", *extra])


def _stored(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((store / "box").glob("*_*_*.json"))]


def test_runs_failures_and_the_commit_before_the_bench(repo, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path, hashes = repo
    store = tmp_path / "store"
    assert _backfill(path, store, f"{hashes[0]}..{hashes[-1]}") == 0
    out = capsys.readouterr().out
    assert f"{hashes[1][:10]} 'before the bench': skipped, before the measured code existed" in out
    assert "left" in out and "2 runs and 1 failure records stored" in out
    docs = {d["backfill"]["commit"]: d for d in _stored(store)}
    assert set(docs) == set(hashes[2:])                       # the skipped one is not stored
    broken = docs[hashes[3]]
    assert broken["measurements"] == [] and "no_such_module_here" in broken["failure"]["reason"]
    ok = docs[hashes[2]]
    assert ok["environment"]["git"] == {"commit": hashes[2], "dirty": False}
    assert ok["backfill"]["parents"] == [hashes[1]] and ok["backfill"]["commit_date"]
    assert ok["config"]["argv"][-1] == "--quick"               # the options reached its own bench
    assert docs[hashes[4]]["backfill"]["generation"] == 5


def test_the_dashboard_orders_by_ancestry_and_shows_failures(repo, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path, hashes = repo
    store = tmp_path / "store"
    # newest first: the store sees the commits out of order; their recorded ancestry fixes it
    assert _backfill(path, store, f"{hashes[3]}..{hashes[4]}") == 0
    assert _backfill(path, store, f"{hashes[1]}..{hashes[3]}") == 0
    site = tmp_path / "site"
    assert main(["history", str(store), "--out", str(site)]) == 0
    page = (site / "index.html").read_text()
    axis = page.split('<h2 id="commits">')[1]
    order = [axis.index(h[:10]) for h in hashes[2:]]
    assert order == sorted(order)
    assert "FAILED box: bench:" in page and "no_such_module_here" in page


def test_resume_after_an_interruption(repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, hashes = repo
    store = tmp_path / "store"
    real = backfill_module.run_commit
    calls: list[str] = []

    def interrupted_second(repo_path, commit_, options, checkpoint):
        calls.append(commit_.sha)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second commit measures
        return real(repo_path, commit_, options, checkpoint)

    monkeypatch.setattr(backfill_module, "run_commit", interrupted_second)
    assert _backfill(path, store, f"{hashes[1]}..{hashes[4]}") == 130
    out = capsys.readouterr().out
    assert "interrupted; 1 commits stored this time" in out and "the same command resumes" in out
    assert [d["backfill"]["commit"] for d in _stored(store)] == [hashes[2]]
    monkeypatch.setattr(backfill_module, "run_commit", real)
    assert _backfill(path, store, f"{hashes[1]}..{hashes[4]}") == 0
    out = capsys.readouterr().out
    assert "1 already stored for machine box" in out and f"{hashes[2][:10]}" not in out.split("to run")[1]
    assert sorted(d["backfill"]["commit"] for d in _stored(store)) == sorted(hashes[2:])
    # other options are another configuration: nothing is skipped for them
    assert _backfill(path, store, f"{hashes[3]}..{hashes[4]}", "--runtimes", "eager") == 0
    assert "0 already stored" in capsys.readouterr().out


@pytest.mark.parametrize("spec, words", [
    ("HEAD", ["expected A..B"]),
    ("HEAD..HEAD~2", ["no commit in the range"]),
    ("nosuch..HEAD", ["'nosuch' is not a commit"]),
    ("HEAD~1...HEAD", ["expected A..B"]),
    ("HEAD..--all", ["is not a revision"]),
])
def test_bad_ranges_are_one_error_line(repo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       spec: str, words: list[str]) -> None:
    path, _ = repo
    store = tmp_path / "store"
    assert _backfill(path, store, spec) == 2
    one_error_line(capsys, *words)
    assert not store.exists()  # nothing half-written


def test_a_range_off_the_first_parent_line_is_refused(repo, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path, hashes = repo
    from tests.git_synthetic import git

    git(path, "checkout", "-q", "-b", "side", hashes[2])
    side = commit(path, {"SIDE": "x\n"}, "a side branch")
    git(path, "checkout", "-q", "main")
    assert _backfill(path, tmp_path / "store", f"{side}..{hashes[-1]}") == 2
    one_error_line(capsys, "not on", "first-parent line")


def test_sampling_keeps_the_newest() -> None:
    commits = [str(i) for i in range(10)]
    assert sample(commits, every=3) == ["0", "3", "6", "9"]
    assert sample(commits, most=4) == ["0", "3", "6", "9"]
    assert sample(commits, most=1) == ["9"] and sample(commits) == commits
