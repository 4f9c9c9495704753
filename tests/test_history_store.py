"""The history store: ids, file names, link-once writes, idempotent add, concurrent writers, bad input."""
from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

import pytest

from bench.cli import main
from bench.history.store import (STORE_MARKER, StoreError, file_run, open_store, parse_run_filename,
                                 run_id_of)
from bench.store.identity import MACHINE_ID_ENV, IdentityError, check_id, machine_id, new_run_id
from tests.history_synthetic import file_runs, results_doc, utc

KEYS = {("inference", "eager", 1): 5e-6, ("train_epoch", "eager", 40): 1e-4}


def doc(machine: str = "box-a", commit: str = "a" * 40, minute: int = 0, seed: int = 0) -> dict:
    return results_doc(machine, commit, utc(minute), KEYS, random.Random(seed), samples=10)


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_machine_id_is_stable_safe_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MACHINE_ID_ENV, raising=False)
    first = machine_id()
    assert first == machine_id() and check_id(first) == first and len(first) == 16
    monkeypatch.setenv(MACHINE_ID_ENV, "h200-box.1")
    assert machine_id() == "h200-box.1"
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 65, "a b"):
        monkeypatch.setenv(MACHINE_ID_ENV, bad)
        if bad.strip():
            with pytest.raises(IdentityError):
                machine_id()
    assert new_run_id() != new_run_id()


def test_a_run_is_filed_under_its_machine_by_time_and_commit(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store", create=True)
    data = doc(commit="0123456789abcdef" * 2 + "01234567", minute=61)
    filed = file_run(store, data)
    assert filed.added and filed.machine == "box-a"
    assert filed.path.parent == store / "box-a"
    assert filed.path.name == f"20261101T010100Z_0123456789ab_{data['run_id']}.json"
    assert parse_run_filename(filed.path.name) == ("20261101T010100Z", "0123456789ab", data["run_id"])
    assert json.loads(filed.path.read_text()) == data
    machine = json.loads((store / "box-a" / "machine.json").read_text())
    assert machine["machine_id"] == "box-a" and machine["cpu_model"] == "AMD EPYC 7B13"
    assert not [p for p in store.rglob("*") if p.name.endswith(".tmp")]


def test_add_is_idempotent_and_stores_the_file_byte_for_byte(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.json", doc(minute=1, seed=1))
    b = write(tmp_path / "b.json", doc(machine="box-b", minute=2, seed=2))
    store = tmp_path / "store"
    assert main(["history", "add", str(store), str(a), str(b)]) == 0
    assert main(["history", "add", str(store), str(a)]) == 0
    assert "already stored" in capsys.readouterr().out
    runs = sorted(store.glob("*/2026*.json"))
    assert len(runs) == 2
    assert a.read_bytes() in {p.read_bytes() for p in runs}


def test_results_without_run_or_machine_id_get_a_content_id_and_need_machine(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = doc()
    del legacy["run_id"], legacy["environment"]["machine_id"]
    path = write(tmp_path / "old.json", legacy)
    store = tmp_path / "store"
    assert main(["history", "add", str(store), str(path)]) == 2
    assert "give --machine NAME" in capsys.readouterr().err
    assert main(["history", "add", str(store), str(path), "--machine", "old-box"]) == 0
    assert main(["history", "add", str(store), str(path), "--machine", "old-box"]) == 0
    assert run_id_of(legacy).startswith("sha256-")
    assert len(list(store.glob("old-box/2026*.json"))) == 1


def test_concurrent_writers_never_conflict(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store", create=True)
    shared = doc(machine="box-0", minute=999, seed=999)
    ctx = multiprocessing.get_context("spawn")
    # every writer also files the same run at the same time; the writers run file_runs from a light
    # module: a spawned process then starts without importing this module's torch (4 s each)
    docs = [[doc(machine=f"box-{seed % 2}", minute=seed * 10 + i, seed=seed * 10 + i) for i in range(4)] + [shared]
            for seed in range(4)]
    procs = [ctx.Process(target=file_runs, args=(str(store), runs)) for runs in docs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    runs = sorted(store.glob("*/2026*.json"))
    assert len(runs) == 4 * 4 + 1
    assert len({json.loads(p.read_text())["run_id"] for p in runs}) == len(runs)
    assert not [p for p in store.rglob("*") if p.name.endswith(".tmp")]
    for machine in ("box-0", "box-1"):
        assert json.loads((store / machine / "machine.json").read_text())["machine_id"] == machine


def test_bad_input_is_one_error_line_and_nothing_written(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    notastore = tmp_path / "photos"
    notastore.mkdir()
    (notastore / "cat.jpg").write_bytes(b"x")
    good = write(tmp_path / "good.json", doc())
    assert main(["history", "add", str(notastore), str(good)]) == 2
    assert main(["history", str(notastore)]) == 2
    unknown = write(tmp_path / "v99.json", {**doc(), "schema_version": 99})
    evil = doc()
    evil["environment"]["machine_id"] = "../../etc"
    evil_path = write(tmp_path / "evil.json", evil)
    store = tmp_path / "store"
    assert main(["history", "add", str(store), str(good), str(unknown)]) == 2
    assert main(["history", "add", str(store), str(good), str(evil_path)]) == 2  # all or nothing
    assert main(["history", "add", str(store), str(good), "--machine", "a/b"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and all(line.startswith("error: ") for line in err)
    assert "schema" in err[2] and "path characters" in err[3]
    assert not store.exists()  # every file is checked before the store is even created
    assert not (tmp_path / "etc").exists()
    with pytest.raises(StoreError):
        open_store(tmp_path / "nothing-here")
    store.mkdir()
    (store / STORE_MARKER).write_text('{"format": "something else"}')
    with pytest.raises(StoreError):
        open_store(store)
