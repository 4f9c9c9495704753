"""`history add` accepts only what the reader can use; a bad stored run never breaks the dashboard."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from bench.cli import main
from tests.history_synthetic import results_doc, utc

KEYS = {("inference", "eager", 1): 5e-6}


def good() -> dict:
    return results_doc("box-a", "a" * 40, utc(0), KEYS, random.Random(0), samples=10)


def year_one(d: dict) -> None:
    d["created_utc"] = "0001-01-01T00:00:00Z"


def commit_list(d: dict) -> None:
    d["environment"]["git"]["commit"] = ["a" * 40]


def huge_batch(d: dict) -> None:
    d["measurements"][0]["batch_size"] = int("9" * 4000)


@pytest.mark.parametrize("spoil, words", [(year_one, ("created_utc", "1970")),
                                          (commit_list, ("git.commit", "string")),
                                          (huge_batch, ("batch_size", "4000-digit"))])
def test_add_refuses_what_the_reader_would_skip(spoil, words: tuple[str, ...], tmp_path: Path,  # noqa: ANN001
                                                capsys: pytest.CaptureFixture[str]) -> None:
    doc = good()
    spoil(doc)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    store = tmp_path / "store"
    assert main(["history", "add", str(store), str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and all(w in err[0] for w in words), err
    assert not list(store.glob("*/*.json"))


def test_a_stored_oversized_run_is_skipped_and_the_dashboard_still_builds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    first = tmp_path / "a.json"
    first.write_text(json.dumps(good()))
    assert main(["history", "add", str(store), str(first)]) == 0
    bad = copy.deepcopy(good())
    bad["run_id"] += "x"
    huge_batch(bad)
    # written by an older linreg-bench, or by hand: straight into the store
    (store / "box-a" / f"20261101T000100Z_aaaaaaaaaaaa_{bad['run_id']}.json").write_text(json.dumps(bad))
    capsys.readouterr()
    assert main(["history", str(store), "--out", str(tmp_path / "site")]) == 0
    assert "batch_size" in capsys.readouterr().err  # reported and skipped
    assert (tmp_path / "site" / "index.html").is_file()
