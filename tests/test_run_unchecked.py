"""--run-unchecked-onnx: a stranger's ONNX graph runs anyway, in a child under a time and a memory limit.

Without the option such graphs are refused by structure (tests/test_hostile_onnx.py). With it the
hash and the no-external-data rule still hold; a hang or a runaway allocation is one error line
naming the limit it hit, and the limits are printed beside the result.
"""
from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from bench.cli import main
from export.errors import ArtifactError
from export.unchecked import UncheckedLimits
from tests.helpers import copy_export, one_error_line
from tests.hostile import rehash
from tests.test_hostile_onnx import constant_from_sidecar, graph, hostile_graphs


def endless_loop() -> onnx.ModelProto:
    """A valid Loop of 10^12 trips that carries x through unchanged: onnxruntime runs it for ever."""
    info = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "body", [info("i", TensorProto.INT64, []), info("cond_in", TensorProto.BOOL, []),
                 info("v_in", TensorProto.FLOAT, ["batch", 1])],
        [info("cond_out", TensorProto.BOOL, []), info("v_out", TensorProto.FLOAT, ["batch", 1])])
    return graph([helper.make_node("Loop", ["trips", "cond", "x"], ["y"], name="forever", body=body)],
                 [helper.make_tensor("trips", TensorProto.INT64, [], [10**12]),
                  helper.make_tensor("cond", TensorProto.BOOL, [], [True])])


def hostile_folder(exported: Path, tmp_path: Path, model: onnx.ModelProto) -> Path:
    export_dir = copy_export(exported, tmp_path / "h")
    ours = onnx.load(str(export_dir / "model.onnx"))
    model.metadata_props.extend(ours.metadata_props)  # it claims our checkpoint, as an attacker's would
    (export_dir / "model.onnx").write_bytes(model.SerializeToString())
    rehash(export_dir)
    return export_dir


def test_our_export_runs_unchecked_and_the_limits_are_printed(exported: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--export-dir", str(exported), "1", "2"]) == 0
    checked = capsys.readouterr().out
    assert main(["predict", "--export-dir", str(exported), "--run-unchecked-onnx", "--unchecked-time-s", "30",
                 "--unchecked-memory-gib", "1.5", "1", "2"]) == 0
    out, err = capsys.readouterr()
    assert out == checked  # the same numbers, from the child
    assert "30 s and 1.5 GiB (--run-unchecked-onnx)" in err


def test_a_runaway_allocation_is_one_line_naming_the_memory_limit(exported: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """ConstantOfShape of 10^9 floats (4 GB) under a 1 GiB limit: refused by the allocator, never made."""
    export_dir = hostile_folder(exported, tmp_path, hostile_graphs()["constant_of_shape"][0])
    assert main(["predict", "--export-dir", str(export_dir), "1"]) == 2
    one_error_line(capsys, "blowup")  # without the option: refused by structure, naming the node
    assert main(["predict", "--export-dir", str(export_dir), "--run-unchecked-onnx",
                 "--unchecked-memory-gib", "1", "1"]) == 2
    one_error_line(capsys, "memory bound of 1 GiB (RLIMIT_DATA, --unchecked-memory-gib)")


def test_what_the_option_never_relaxes(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = copy_export(exported, tmp_path / "h")
    constant_from_sidecar(export_dir, 1000.0)  # external data no hash covers
    (export_dir / "w.bin").unlink()
    assert main(["predict", "--export-dir", str(export_dir), "--run-unchecked-onnx", "1"]) == 2
    one_error_line(capsys, "external data")
    assert main(["predict", "--export-dir", str(exported), "--run-unchecked-onnx", "--runtime", "torchscript",
                 "1"]) == 2
    one_error_line(capsys, "ONNX artifact only")
    assert main(["predict", "--export-dir", str(exported), "--run-unchecked-onnx", "--unchecked-time-s",
                 "1e9", "1"]) == 2
    one_error_line(capsys, "--unchecked-time-s", "must be within")


@pytest.mark.parametrize("limits", [(0, 1), (float("nan"), 1), (4000, 1), (10, 0.1), (10, 10**6)])
def test_limits_have_bounds(limits: tuple[float, float]) -> None:
    with pytest.raises(ArtifactError, match="--unchecked"):
        UncheckedLimits(*limits)


@pytest.mark.slow
def test_an_endless_loop_is_killed_at_the_time_limit(exported: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = hostile_folder(exported, tmp_path, endless_loop())
    assert main(["verify", "--export-dir", str(export_dir), "--trust-only", "onnx"]) == 2
    one_error_line(capsys, "model.onnx")  # refused by structure first
    for command in (["predict", "1"], ["verify", "--trust-only", "onnx"]):  # verify: one line, not a row per case
        assert main([command[0], "--export-dir", str(export_dir), *command[1:], "--run-unchecked-onnx",
                     "--unchecked-time-s", "3"]) == 2
        one_error_line(capsys, "did not finish within 3 s (--unchecked-time-s)")


@pytest.mark.slow
def test_verify_runs_our_export_unchecked_and_says_so(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--export-dir", str(exported), "--trust-only", "onnx", "--run-unchecked-onnx"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime-cpu" in out and "onnx-reference" not in out  # no graph runs in this process
    assert "ran it in a child process limited to 60 s and 2 GiB" in out


def test_bench_runs_an_unchecked_graph_only_in_bounded_workers(exported: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from bench.runtimes.base import Artifacts
    from bench.suite import SuiteConfig, SuiteError

    export_dir = hostile_folder(exported, tmp_path, hostile_graphs()["constant_of_shape"][0])
    argv = ["bench", "--export-dir", str(export_dir), "--out", str(tmp_path / "o"), "--smoke",
            "--devices", "cpu", "--runtimes", "onnxruntime", "--variants", "fused"]
    assert main(argv) == 2
    one_error_line(capsys, "blowup")  # without the option: refused by structure
    assert main([*argv, "--run-unchecked-onnx"]) == 2  # --smoke runs in this process: refused
    one_error_line(capsys, "--run-unchecked-onnx", "--isolation runtime or fork")
    with pytest.raises(SuiteError):
        SuiteConfig(unchecked_onnx=True, isolation="none")
    artifacts = Artifacts.from_export_dir(export_dir, unchecked_onnx=True)  # admitted, flagged for workers
    assert Artifacts.from_json(artifacts.to_json()).unchecked_onnx
    assert SuiteConfig(unchecked_onnx=True).to_json()["unchecked_onnx"] is True  # recorded
