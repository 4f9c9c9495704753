"""Regression tests for every crash found by hand in issue 14: one `error:` line, exit 2, no traceback."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import given, strategies as st

from bench.cli import main
from linreg.untrusted import UntrustedFileError, json_depth, load_json, parse_json, require_samples
from tests import fuzz_profiles  # noqa: F401 - registers and loads the profile
from tests.helpers import copy_export


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err
    return code, err


def one_error(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.fixture
def export_copy(exported: Path, tmp_path: Path) -> Path:
    return copy_export(exported, tmp_path / "e")


def _edit_manifest(export_dir: Path, edit) -> None:  # noqa: ANN001
    path = export_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("value, field", [(12, "artifacts[0].path"), ("model\x00.onnx", "artifacts[0].path"),
                                          (None, "artifacts[0].path"), (["x"], "artifacts[0].path")])
@pytest.mark.parametrize("command", ["verify", "predict"])
def test_manifest_field_of_wrong_type_or_with_nul_is_one_error(
        export_copy: Path, capsys: pytest.CaptureFixture[str], value: object, field: str, command: str) -> None:
    _edit_manifest(export_copy, lambda m: m["artifacts"][0].__setitem__("path", value))
    argv = ["verify", "--export-dir", export_copy] if command == "verify" else \
        ["predict", "--export-dir", export_copy, "--runtime", "torchscript", "1"]
    code, err = run(capsys, *argv)
    assert code == 2 and "manifest.json" in one_error(err) and field in err


@pytest.mark.parametrize("command", ["verify", "predict"])
def test_manifest_nested_100000_levels_is_one_error(export_copy: Path, capsys, command: str) -> None:
    (export_copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    argv = ["verify", "--export-dir", export_copy] if command == "verify" else \
        ["predict", "--export-dir", export_copy, "1"]
    code, err = run(capsys, *argv)
    assert code == 2 and "nested more than 64 levels" in one_error(err)


def test_deep_results_file_in_compare_is_one_error(tmp_path: Path, capsys) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 50_000 + "1" + "}" * 50_000)
    code, err = run(capsys, "compare", deep, deep)
    assert code == 2 and "deep.json" in one_error(err) and "nested" in err


def test_all_zero_samples_are_refused_without_a_numpy_warning(tmp_path: Path, capsys) -> None:
    doc = {"machine_info": {}, "benchmarks": [{"name": "a", "stats": {"data": [0.0] * 20}}]}
    path = tmp_path / "zero.json"
    path.write_text(json.dumps(doc))
    code, err = run(capsys, "compare", path, path)
    assert code == 2 and "field benchmarks[0].stats.data[0]" in one_error(err) and "> 0" in err


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_files_are_refused_not_read(tmp_path: Path, capsys, special: str) -> None:
    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)  # nobody writes it: reading would block forever
    ok = tmp_path / "ok.json"
    ok.write_text("{}")
    code, err = run(capsys, "compare", special, ok)
    assert code == 2 and "not a regular file" in one_error(err)


def test_special_manifest_is_refused(export_copy: Path, capsys) -> None:
    (export_copy / "manifest.json").unlink()
    os.mkfifo(export_copy / "manifest.json")
    code, err = run(capsys, "verify", "--export-dir", export_copy)
    assert code == 2 and "FIFO" in one_error(err)


@pytest.mark.parametrize("argv, words", [
    (["--batches", "9223372036854775808"], "over the limit of 100000000"),
    (["--batches", "100000001"], "over the limit"),
    (["--repeats", "10000000000"], "--yes"),
    (["--batches", "100000000", "--repeats", "1000"], "element-calls"),
    (["--repeats", "10" + "0" * 30, "--yes"], "1e+07 even with --yes"),  # --yes has a bound too
])
def test_export_speed_refuses_sizes_that_cannot_fit_or_finish(capsys, argv: list[str], words: str) -> None:
    code, err = run(capsys, "export-speed", *argv)
    assert code == 2 and words in one_error(err)


def test_torch_save_runtime_error_on_full_disk_is_one_line_and_keeps_the_old_result(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's full disk: torch.save's zip writer raised `RuntimeError: basic_ios::clear`."""
    out = tmp_path / "run"
    assert run(capsys, "train", "--epochs", "2", "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def failing_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
        Path(f).write_bytes(b"PK\x03\x04 half a zip")  # what a full disk leaves: part of a file
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", failing_save)
    monkeypatch.setattr("linreg.files.disk_full", lambda folder: True)
    code, err = run(capsys, "train", "--epochs", "3", "--out", out)
    assert code == 2 and "no space left on" in one_error(err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half-written


def test_a_failed_write_that_is_not_a_full_disk_names_the_file(tmp_path: Path) -> None:
    from linreg.files import WriteFailedError, atomic_path

    with pytest.raises(WriteFailedError, match=r"cannot write .*x\.pt \(unexpected pos 704"):
        with atomic_path(tmp_path / "x.pt"):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ linreg.untrusted itself

def test_json_depth_skips_brackets_inside_strings() -> None:
    assert json_depth(b'[{"a": "[[[[{{"}, [1, "]\\"["]]') == 2


@pytest.mark.parametrize("raw, words", [(b"\xff\xfe", "not UTF-8"), (b'{"a": NaN}', "NaN"),
                                        (b"1" * 5000, "invalid JSON"), (b"[" * 65 + b"]" * 65, "nested more than 64")])
def test_parse_json_refuses_with_the_source_named(raw: bytes, words: str) -> None:
    with pytest.raises(UntrustedFileError, match=words) as info:
        parse_json(raw, "some.json")
    assert str(info.value).startswith("some.json: ")


def test_oversize_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 1000 + "0]")
    with pytest.raises(UntrustedFileError, match="over the 100-byte limit"):
        load_json(big, max_bytes=100)


@pytest.mark.parametrize("values, words", [([1.0, 0.0], r"\[1\]: must be > 0"), ([1, True], r"\[1\]: expected"),
                                           ("1", ": expected a list"), ([10**400], r"\[0\]: is too large")])
def test_require_samples_names_the_bad_sample(values: object, words: str) -> None:
    with pytest.raises(UntrustedFileError, match=rf"f\.json: field s{words}"):
        require_samples(values, "f.json", "s")


def test_oversize_checkpoint_is_refused_before_torch_reads_it(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("linreg.checkpoint.MAX_CHECKPOINT_BYTES", 10)
    path = tmp_path / "model.pth"
    path.write_bytes(b"x" * 11)
    code, err = run(capsys, "predict", "--checkpoint", path, "1")
    assert code == 2 and "over the 10-byte limit" in one_error(err)


def test_a_results_file_whose_git_commit_is_not_text_is_one_error(tmp_path: Path, capsys) -> None:
    """Found by the long fuzz profile: environment.git.commit = true crashed the text report."""
    doc = json.loads((Path(__file__).parent / "golden" / "results_v1.json").read_text())
    doc["environment"].setdefault("git", {})["commit"] = True
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    code, err = run(capsys, "compare", path, path)
    assert code == 2 and "field environment.git.commit" in one_error(err)


def _true_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_true_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_true_depth, value), default=0)
    return 0


_TRICKY = st.text(alphabet='[]{}"\\ab\n', max_size=12)
_DOCS = st.recursive(st.one_of(st.none(), st.integers(), _TRICKY), lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(_TRICKY, kids, max_size=3)), max_leaves=15)


@given(doc=_DOCS)
def test_json_depth_agrees_with_the_parsed_document(doc: object) -> None:
    """Strings full of brackets, quotes and backslash runs never confuse the count."""
    assert json_depth(json.dumps(doc).encode()) == _true_depth(doc)


@pytest.mark.parametrize("raw", [b'["' + b"\\\\" * 500_000 + b'"]', b'["' + b"x" * 1_000_000 + b'"]',
                                 b'["' + b'\\"' * 50_000 + b'"]'])
def test_json_depth_takes_constant_extra_memory(raw: bytes) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        assert json_depth(raw) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64_000, peak  # the earlier whole-string regex kept ~120 bytes per input byte


def test_a_full_disk_during_a_write_names_the_file(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """write() reports ENOSPC without a file name: the error line still names what was written."""
    import errno

    def no_space(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_text", no_space)
    target = tmp_path / "golden-copy.md"
    code, err = run(capsys, "report", str(Path(__file__).parent / "golden" / "results_v1.json"), "-o", target)
    assert code == 2 and "golden-copy.md" in one_error(err) and "no space left" in err
    assert not target.exists() and not list(tmp_path.glob(".*.tmp"))
