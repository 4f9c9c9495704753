"""Fuzz campaign (issue 14): generated manifests, results files, argument lists and checkpoints.

Properties, for every generated case: the CLI exits 0, 1 or 2 (never an uncaught exception, so
never a traceback), prints no Python warning, writes nothing outside --out, and never runs code
(a marker file that hostile payloads would write never appears). Calls are in-process
(bench.cli.main) to keep the fast profile fast. Profiles: tests/fuzz_profiles.py.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, strategies as st

from bench.cli import build_parser, main
from tests import fuzz_profiles  # noqa: F401 - registers and loads the profile
from tests.helpers import copy_export
from tests.hostile import MarkerPayload

GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"
WARNING = re.compile(r"\b\w*Warning\b|Traceback")

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20), st.just("a\x00b"), st.just(10**30), st.just(0), st.just(-1))
json_values = st.recursive(json_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)), max_leaves=12)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with (size, mtime_ns): what a run changed."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            with contextlib.suppress(FileNotFoundError):
                st_ = p.lstat()
                out[str(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


def run_cli(argv: list[str]) -> tuple[int, str]:
    """main(argv) in-process; the exit code and stderr. Any uncaught exception fails the test."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    assert code in (0, 1, 2), (argv, code, err.getvalue())
    assert not WARNING.search(err.getvalue()), err.getvalue()
    return code, err.getvalue()


def mutate(doc: Any, data: st.DataObject, depth: int = 0) -> Any:
    """A copy of a JSON document with a few fields replaced, deleted or added, chosen by `data`."""
    if isinstance(doc, dict) and doc:
        key = data.draw(st.sampled_from(sorted(doc)))
        action = data.draw(st.sampled_from(["replace", "delete", "recurse", "recurse", "add"]))
        doc = dict(doc)
        if action == "replace":
            doc[key] = data.draw(json_values)
        elif action == "delete":
            del doc[key]
        elif action == "add":
            doc[data.draw(st.text(max_size=8))] = data.draw(json_values)
        else:
            doc[key] = mutate(doc[key], data, depth + 1)
        return doc
    if isinstance(doc, list) and doc:
        i = data.draw(st.integers(0, len(doc) - 1))
        doc = list(doc)
        doc[i] = mutate(doc[i], data, depth + 1) if data.draw(st.booleans()) else data.draw(json_values)
        return doc
    return data.draw(json_values)


def raw_variants(text: str, data: st.DataObject) -> bytes:
    """The document's bytes, sometimes truncated, deepened or sprinkled with bad bytes."""
    raw = text.encode()
    kind = data.draw(st.sampled_from(["as is", "as is", "truncate", "deep", "bytes"]))
    if kind == "truncate":
        return raw[: data.draw(st.integers(0, len(raw)))]
    if kind == "deep":
        n = data.draw(st.integers(60, 3000))
        return b"[" * n + raw + b"]" * n
    if kind == "bytes":
        return data.draw(st.binary(max_size=64)) + raw
    return raw


# ------------------------------------------------------------------ manifests: verify, predict

@pytest.fixture(scope="module")
def fuzz_export(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    export_dir = copy_export(exported, tmp_path_factory.mktemp("fuzz") / "f")
    return export_dir, json.loads((export_dir / "manifest.json").read_text())


@given(data=st.data(), command=st.sampled_from(["verify", "predict-onnx", "predict-pt2", "predict-ts"]))
def test_generated_manifests_never_crash(fuzz_export: tuple[Path, dict[str, Any]], data: st.DataObject,
                                         command: str) -> None:
    export_dir, manifest = fuzz_export
    doc = mutate(manifest, data)
    (export_dir / "manifest.json").write_bytes(raw_variants(json.dumps(doc), data))
    before = snapshot(export_dir.parent)
    runtime = {"predict-onnx": "onnxruntime", "predict-pt2": "exported_program", "predict-ts": "torchscript"}
    argv = ["verify", "--export-dir", str(export_dir)] if command == "verify" else \
        ["predict", "--export-dir", str(export_dir), "--runtime", runtime[command], "0.5"]
    run_cli(argv)
    assert snapshot(export_dir.parent) == before  # verify and predict write nothing


# ------------------------------------------------------------------ results files: compare

def _small_results() -> dict[str, Any]:
    doc = json.loads(GOLDEN.read_text())
    doc["measurements"] = doc["measurements"][:3]
    return doc


PYTEST_DOC = {"machine_info": {"cpu": {"brand_raw": "x"}}, "commit_info": {"id": "abc"},
              "benchmarks": [{"name": "test_a", "fullname": "t.py::test_a",
                              "stats": {"data": [1e-3, 1.1e-3, 0.9e-3, 1.05e-3], "median": 1e-3}}]}


@given(data=st.data(), kind=st.sampled_from(["results", "pytest"]), side=st.sampled_from(["base", "new"]))
def test_generated_results_files_never_crash_compare(tmp_path_factory: pytest.TempPathFactory,
                                                     data: st.DataObject, kind: str, side: str) -> None:
    folder = tmp_path_factory.mktemp("cmp")
    seed = _small_results() if kind == "results" else PYTEST_DOC
    good, bad = folder / "good.json", folder / "bad.json"
    good.write_text(json.dumps(seed))
    bad.write_bytes(raw_variants(json.dumps(mutate(seed, data)), data))
    before = snapshot(folder)
    pair = [good, bad] if side == "new" else [bad, good]
    run_cli(["compare", *map(str, pair), "--resamples", "200"])
    assert snapshot(folder) == before


# ------------------------------------------------------------------ argument lists

def _subcommands() -> dict[str, list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: [o for a in p._actions for o in a.option_strings] for name, p in sub.choices.items()}


SUBCOMMANDS = _subcommands()
tokens = st.one_of(st.text(max_size=12), st.integers().map(str), st.floats().map(str),
                   st.sampled_from(["9223372036854775808", "-1", "0", "1e400", "nan", "-inf", "/dev/zero",
                                    "cpu", "cuda:99", "--", "-", "x=1"]))


@given(data=st.data(), name=st.sampled_from(sorted(SUBCOMMANDS)))
def test_generated_argument_lists_parse_or_give_one_usage_error(data: st.DataObject, name: str) -> None:
    options = SUBCOMMANDS[name] or ["--help"]
    argv = [name]
    for _ in range(data.draw(st.integers(0, 6))):
        if data.draw(st.booleans()):
            argv.append(data.draw(st.sampled_from(options)))
        argv.append(data.draw(tokens))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2)
            if exc.code == 2:
                assert err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1, err.getvalue()
    assert not WARNING.search(err.getvalue())


@given(batches=st.lists(st.integers(1, 2**70), min_size=1, max_size=3), repeats=st.integers(1, 2**70),
       yes=st.booleans())
def test_export_speed_sizes_are_bounded_before_anything_runs(monkeypatch: pytest.MonkeyPatch,
                                                             batches: list[int], repeats: int, yes: bool) -> None:
    """Even --yes has a bound it states (100x the time limits): 10^30 repeats never ran."""
    import bench.runtimes.graph_speed as speed

    ran: list[tuple[Any, ...]] = []
    monkeypatch.setattr(speed, "measure", lambda b, r: ran.append((b, r)) or [])
    code, err = run_cli(["export-speed", "--batches", *map(str, batches), "--repeats", str(repeats),
                         *(["--yes"] if yes else [])])
    work = sum(batches) * (repeats + speed.WARMUPS)
    scale = speed.YES_FACTOR if yes else 1
    fits = max(batches) <= speed.MAX_BATCH and repeats <= speed.MAX_REPEATS * scale \
        and work <= speed.MAX_WORK * scale
    assert (code == 0 and ran) if fits else (code == 2 and not ran and "limit" in err)


# ------------------------------------------------------------------ checkpoints: predict

KEYS = ["weights", "bias", "linear_layer.weight", "linear_layer.bias", "other"]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool, torch.complex64]


@st.composite
def checkpoints(draw: st.DrawFn, marker: Path) -> bytes:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=0, max_size=3, unique=True))
    state: dict[str, Any] = {}
    for key in keys:
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        state[key] = torch.ones(shape, dtype=draw(st.sampled_from(DTYPES))) * draw(
            st.sampled_from([0.5, 1e30, float("nan"), float("inf")]))
    if draw(st.integers(0, 5)) == 0:
        state["weights"] = MarkerPayload(marker, torch.zeros(1))  # a pickle that runs code
    obj: Any = state if draw(st.integers(0, 6)) else draw(st.sampled_from([[1, 2], "text", None, (state,)]))
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    raw = buffer.getvalue()
    cut = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if cut == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif cut == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:]
    return raw


@given(data=st.data())
def test_generated_checkpoints_never_crash_or_run_code(tmp_path_factory: pytest.TempPathFactory,
                                                       data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("ckpt")
    marker = folder / "PWNED"
    path = folder / "model.pth"
    path.write_bytes(data.draw(checkpoints(marker)))
    code, _ = run_cli(["predict", "--checkpoint", str(path), "1.0"])
    assert code in (0, 2) and not marker.exists()


@given(alpha=st.one_of(st.floats(), st.just(0.002)), fail_on=st.one_of(st.text(max_size=12), st.just("median:10%")),
       resamples=st.integers(-10, 10**12), fmt=st.sampled_from([[], ["--json"], ["--markdown"]]))
def test_generated_compare_options_never_crash_and_write_only_output(
        tmp_path_factory: pytest.TempPathFactory, alpha: float, fail_on: str, resamples: int, fmt: list[str]) -> None:
    folder = tmp_path_factory.mktemp("cmpopt")
    base = folder / "base.json"
    base.write_text(json.dumps(PYTEST_DOC))
    out = folder / "out" / "report.txt"
    before = snapshot(folder)
    code, _ = run_cli(["compare", str(base), str(base), f"--alpha={alpha}", f"--fail-on={fail_on}",
                       f"--resamples={min(resamples, 10**7)}", "--output", str(out), *fmt])
    after = snapshot(folder)
    after.pop(str(out), None)
    assert after == before  # the only file compare may write is its --output

