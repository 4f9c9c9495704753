"""Fuzzing the history store's readers (profiles: tests/fuzz_profiles.py).

Properties: a generated file inside a store is reported and skipped while every good run is still
read (exit 0, no traceback, no warning leak); `history add` of a generated results file exits 0 or
2 and leaves only runs that read back.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from hypothesis import given, strategies as st

from bench.history.runs import load_store
from tests import fuzz_profiles  # noqa: F401 - registers and loads the profile
from tests.history_synthetic import results_doc, utc
from tests.test_fuzz import mutate, run_cli

GOOD = results_doc("box", "a" * 40, utc(0), {("inference", "eager", 1): 5e-6}, random.Random(0), samples=5)


def fresh_store(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    code, _ = run_cli(["history", "add", str(root), str(write(root.parent / "good.json", GOOD))])
    assert code == 0
    return root


def write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@given(data=st.data(), raw=st.binary(max_size=64))
def test_a_bad_file_in_the_store_is_skipped_never_fatal(tmp_path: Path, data: st.DataObject,
                                                        raw: bytes) -> None:
    store = fresh_store(tmp_path / "store")
    bad = store / "box" / "20261101T000100Z_bbbbbbbbbbbb_fuzzed.json"
    if data.draw(st.booleans()):
        bad.write_bytes(raw)
    else:
        write(bad, mutate(GOOD, data))
    code, err = run_cli(["history", str(store)])
    assert code == 0
    assert all(line.startswith("warning: skipped ") for line in err.splitlines()), err
    assert len(load_store(store).runs) >= 1


@given(data=st.data())
def test_history_add_of_a_generated_results_file(tmp_path: Path, data: st.DataObject) -> None:
    store = fresh_store(tmp_path / "store")
    new = write(tmp_path / "new.json", mutate(GOOD, data))
    code, err = run_cli(["history", "add", str(store), str(new)])
    assert code in (0, 2) and (code == 0 or err.startswith("error: ")), err
    loaded = load_store(store)
    assert loaded.problems == () and len(loaded.runs) in (1, 2)
