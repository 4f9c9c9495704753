"""Where `export` may write: foreign folders, the checkpoint's own folder, `.`, symlinks, publishing.

Most tests stub the three exporters (write_artifacts) with tiny files: they test where the folder
goes and what it may replace, not the artifacts, and stay fast.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.cli import main
from export import exporters
from export import publish
from export.exporters import export_all
from export.publish import remove_debris
from export.manifest import ARTIFACT_NAMES, resolve_checkpoint, sha256_file


@pytest.fixture
def fake_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    """write_artifacts that writes three small files with real manifest entries."""
    def write(model, model_name, checkpoint_sha256, folder):  # noqa: ANN001, ARG001
        entries = []
        for fmt, name in ARTIFACT_NAMES.items():
            path = folder / name
            path.write_bytes(fmt.encode())
            entries.append({"format": fmt, "path": name, "sha256": sha256_file(path),
                            "bytes": path.stat().st_size, "opset": 20, "ir_version": 10})
        return entries

    monkeypatch.setattr(exporters, "write_artifacts", write)


def run_export(checkpoint: Path, out: Path | str, capsys) -> tuple[int, str]:  # noqa: ANN001
    code = main(["export", "--no-verify", "--checkpoint", str(checkpoint), "--out", str(out)])
    return code, capsys.readouterr().err


def one_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def dotfiles(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- 1. only our own export folder is replaced -----------------------------------------------

@pytest.mark.parametrize("manifest", [
    {"name": "my web app", "icons": []},                     # a web app manifest
    {},                                                        # not even a manifest
    {"manifest_version": 1, "artifacts": [{"format": "onnx", "path": "model.onnx"}]},  # + index.html
])
def test_a_folder_with_someone_elses_manifest_is_refused(manifest, checkpoint, tmp_path, capsys, fake_artifacts):
    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text(json.dumps(manifest))
    (web / "index.html").write_text("<h1>keep me</h1>")
    code, err = run_export(checkpoint, web, capsys)
    assert code == 2 and one_line(err) and "not an export folder" in err
    assert (web / "index.html").read_text() == "<h1>keep me</h1>"
    assert json.loads((web / "manifest.json").read_text()) == manifest
    assert dotfiles(tmp_path) == []


def test_an_export_with_an_extra_file_is_refused(checkpoint, tmp_path, capsys, fake_artifacts):
    out = tmp_path / "exp"
    export_all(checkpoint, out, verify=False)
    (out / "notes.txt").write_text("mine")
    code, err = run_export(checkpoint, out, capsys)
    assert code == 2 and one_line(err)
    assert (out / "notes.txt").read_text() == "mine"


def test_an_old_export_and_an_empty_folder_are_replaced(checkpoint, tmp_path, capsys, fake_artifacts):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_export(checkpoint, empty, capsys)[0] == 0
    assert {p.name for p in empty.iterdir()} == {*ARTIFACT_NAMES.values(), "manifest.json"}
    (empty / "model.onnx").unlink()  # a damaged export of ours is still ours
    assert run_export(checkpoint, empty, capsys)[0] == 0
    assert (empty / "model.onnx").is_file() and dotfiles(tmp_path) == []


# --- 2. the checkpoint inside --out -----------------------------------------------------------

def test_a_checkpoint_inside_out_is_refused(checkpoint, tmp_path, capsys, fake_artifacts, monkeypatch):
    e2 = tmp_path / "e2"
    e2.mkdir()
    mine = e2 / "my.pth"
    mine.write_bytes(checkpoint.read_bytes())
    monkeypatch.chdir(tmp_path)
    for out in ("e2", str(e2), "./e2/../e2"):
        code, err = run_export(Path("e2/my.pth"), out, capsys)
        assert code == 2 and one_line(err) and "inside --out" in err
    assert mine.read_bytes() == checkpoint.read_bytes()
    assert [p.name for p in e2.iterdir()] == ["my.pth"]


# --- 3, 4, 5. symlinks and `.` ----------------------------------------------------------------

def test_symlinked_out_publishes_into_its_target(checkpoint, tmp_path, capsys, fake_artifacts):
    target = tmp_path / "deep" / "a" / "b"
    target.mkdir(parents=True)
    link = tmp_path / "lnk"
    link.symlink_to(target, target_is_directory=True)
    for _ in range(2):  # the first export fills the empty target, the second replaces it
        code, err = run_export(checkpoint, link, capsys)
        assert code == 0, err
        assert link.is_symlink() and link.resolve() == target.resolve()
        assert {p.name for p in target.iterdir()} == {*ARTIFACT_NAMES.values(), "manifest.json"}
        assert dotfiles(tmp_path) == [] and dotfiles(target.parent) == []
    manifest = json.loads((target / "manifest.json").read_text())
    recorded = manifest["source_checkpoint"]["path"]
    assert resolve_checkpoint(link, recorded).resolve() == checkpoint.resolve()
    assert resolve_checkpoint(target, recorded).resolve() == checkpoint.resolve()


def test_out_dot_is_refused_before_any_work(checkpoint, tmp_path, capsys, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(exporters, "load_model", lambda *a: pytest.fail("worked before refusing"))
    for out in (".", "..", str(here)):
        code, err = run_export(checkpoint, out, capsys)
        assert code == 2 and one_line(err) and "current folder" in err
    assert list(here.iterdir()) == []


def test_out_root_is_refused(checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(exporters, "load_model", lambda *a: pytest.fail("worked before refusing"))
    code, err = run_export(checkpoint, "/", capsys)
    assert code == 2 and one_line(err)


# --- 6. publishing --------------------------------------------------------------------------

def test_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new").write_text("new")
    (b / "old").write_text("old")
    if not publish._exchange(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert (b / "new").is_file() and (a / "old").is_file()


def test_republish_never_renames_out_away_when_exchange_works(checkpoint, tmp_path, capsys, fake_artifacts,
                                                              monkeypatch):
    out = tmp_path / "exp"
    export_all(checkpoint, out, verify=False)
    if not publish._exchange(tmp_path / "exp", tmp_path / "exp"):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    renamed = []
    real_rename = os.rename
    monkeypatch.setattr(publish.os, "rename", lambda a, b: (renamed.append(Path(a)), real_rename(a, b)))
    assert run_export(checkpoint, out, capsys)[0] == 0
    assert out not in renamed  # swapped in one step: --out never went missing
    assert dotfiles(tmp_path) == []


def test_two_rename_fallback_still_replaces(checkpoint, tmp_path, capsys, fake_artifacts, monkeypatch):
    out = tmp_path / "exp"
    export_all(checkpoint, out, verify=False)
    monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    assert run_export(checkpoint, out, capsys)[0] == 0
    assert {p.name for p in out.iterdir()} == {*ARTIFACT_NAMES.values(), "manifest.json"}
    assert dotfiles(tmp_path) == []


def test_debris_of_killed_exports_is_removed(checkpoint, tmp_path, capsys, fake_artifacts):
    dead = 2 ** 22 + 12345  # above Linux's pid_max: no such process
    stale = [f".exp.{dead}.abcd_123.tmp", f".exp.old-{dead}", ".exp.k2j4h5g6.tmp"]
    kept = [f".exp.{os.getppid()}.abcd_123.tmp",  # a live process's build folder
            ".other.old-1", ".exp.old-notapid", "exp.tmp"]
    for name in stale + kept:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.onnx").write_text("half")
    (tmp_path / f".exp.old-{dead + 1}").symlink_to(tmp_path / "elsewhere")  # never remove links
    assert run_export(checkpoint, tmp_path / "exp", capsys)[0] == 0
    left = set(dotfiles(tmp_path)) | {p.name for p in tmp_path.iterdir()}
    assert not set(stale) & left
    assert set(kept) <= left and f".exp.old-{dead + 1}" in left
    assert remove_debris(tmp_path / "exp") == []
