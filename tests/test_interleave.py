"""`compare --rev`: the temporary worktree is always cleaned up; bad revisions are one error line."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from bench.compare import interleave
from bench.cli import main
from bench.compare.gate import MedianGate
from bench.compare.interleave import InterleaveConfig, compare_revision, repo_root
from bench.compare.interleave_driver import _time_chunk
from linreg.errors import LinregError


def worktrees() -> list[str]:
    out = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=repo_root(),
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("worktree ")]


def test_config_validates():
    with pytest.raises(LinregError, match="unknown workload 'nope'"):
        InterleaveConfig(workloads=("nope",))
    with pytest.raises(LinregError, match="rounds"):
        InterleaveConfig(rounds=1)


def test_unknown_revision_is_one_error_line(capsys):
    before = worktrees()
    assert main(["compare", "--rev", "no-such-rev-xyz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --rev 'no-such-rev-xyz' is not a commit") and err.count("\n") == 1
    assert worktrees() == before


def test_worktree_is_removed_even_when_measuring_fails(monkeypatch, tmp_path):
    before = worktrees()
    seen = {}

    def boom(base_tree, new_tree, config, work_dir, progress=None):
        seen["tree"] = base_tree
        assert (base_tree / "linreg" / "__init__.py").is_file()  # a real checkout of the revision
        assert len(worktrees()) == len(before) + 1
        raise LinregError("measuring failed")

    monkeypatch.setattr(interleave, "measure_interleaved", boom)
    with pytest.raises(LinregError, match="measuring failed"):
        compare_revision("HEAD", InterleaveConfig(), MedianGate(), quiet=True)
    assert worktrees() == before
    assert not seen["tree"].exists() and not seen["tree"].parent.exists()


def test_injected_slowdown_spins_inside_the_timed_region():
    # Not a speed assertion: the hook spins until (1 + inject) x the measured time, by construction.
    def work() -> None:
        time.sleep(0.002)

    plain = _time_chunk(work, 1, 0.0)
    slowed = _time_chunk(work, 1, 1.0)
    assert slowed >= 2 * 0.002 and plain >= 0.002


@pytest.mark.slow
def test_head_against_itself_end_to_end(tmp_path, capsys):
    before = worktrees()
    code = main(["compare", "--rev", "HEAD", "--rounds", "4", "--alpha", "0.05", "--block-s", "0.02",
                 "--workloads", "infer_eager_1,train_eager_40,infer_ort_1", "--json",
                 "--save-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    labels = {m["label"]: m for m in report["measurements"]}
    assert set(labels) == {"inference/eager/cpu/1", "train_epoch/eager/cpu/40", "inference/onnxruntime/cpu/1"}
    assert all(m["base"]["n_samples"] == 4 or m["verdict"] == "skipped" for m in labels.values())
    base = json.loads((tmp_path / "base.json").read_text())
    new = json.loads((tmp_path / "new.json").read_text())
    assert base["config"]["worker_pairs"] == 2  # 4 rounds, a fresh pair every 2
    # Each side imported linreg from its own tree.
    assert base["environment"]["linreg_file"] != new["environment"]["linreg_file"]
    assert new["environment"]["linreg_file"].startswith(str(repo_root()))
    assert worktrees() == before
