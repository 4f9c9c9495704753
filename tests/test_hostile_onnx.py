"""Hostile ONNX graphs and export folders: refused by structure, before onnx.checker or onnxruntime.

Each folder is a real export with one thing changed and manifest.json re-hashed, so the hash check
passes: what stops it is the structural check (export/onnx_structure.py) or the stray-file check.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bench.cli import main
from export.errors import ArtifactError
from export.onnx_structure import MAX_ONNX_BYTES, check_onnx_bytes
from tests.helpers import copy_export, one_error_line
from tests.hostile import rehash, rewrite_pt2


def constant_from_sidecar(export_dir: Path, weight: float) -> Path:
    """The campaign's attack: the `weight` initializer becomes a Constant node whose tensor lives
    in w.bin beside model.onnx (external data the manifest does not cover)."""
    path = export_dir / "model.onnx"
    model = onnx.load(str(path))
    init = next(t for t in model.graph.initializer if t.name == "weight")
    model.graph.initializer.remove(init)
    tensor = TensorProto(name="weight_ext", data_type=TensorProto.FLOAT, dims=list(init.dims))
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "0"), ("length", "4")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    model.graph.node.insert(0, helper.make_node("Constant", [], ["weight"], name="w_const", value=tensor))
    path.write_bytes(model.SerializeToString())
    (export_dir / "w.bin").write_bytes(struct.pack("<f", weight))
    rehash(export_dir)
    return path


def test_the_sidecar_attack_is_real_when_onnxruntime_loads_it_unchecked(exported: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    export_dir = copy_export(exported, tmp_path / "h")
    path = constant_from_sidecar(export_dir, 1000.0)
    y = ort.InferenceSession(str(path)).run(None, {"x": np.ones((1, 1), np.float32)})[0]
    assert y[0, 0] > 999  # w.bin, which no hash covers, drives the prediction


@pytest.mark.parametrize("command", [["verify"], ["verify", "--trust-only", "onnx"], ["predict", "1"]])
def test_external_data_in_a_constant_node_is_refused(exported: Path, tmp_path: Path, command: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = copy_export(exported, tmp_path / "h")
    constant_from_sidecar(export_dir, 1000.0)
    (export_dir.parent / "outside.bin").write_bytes(b"x")  # beside the folder: not a stray
    argv = [command[0], "--export-dir", str(export_dir), *command[1:]]
    assert main(argv) == 2
    one_error_line(capsys, "w.bin")
    (export_dir / "w.bin").unlink()  # the stray gone: the node itself is refused, and named
    assert main(argv) == 2
    one_error_line(capsys, "w_const", "external data")


def test_a_file_no_artifact_names_is_refused(exported: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = copy_export(exported, tmp_path / "h")
    assert main(["predict", "--export-dir", str(export_dir), "1"]) == 0
    (export_dir / "w.bin").write_bytes(b"\0" * 4)
    capsys.readouterr()
    assert main(["predict", "--export-dir", str(export_dir), "1"]) == 2
    one_error_line(capsys, "w.bin", "no artifact")


def graph(nodes: list, initializers: list, opset: int = 20, **kwargs) -> onnx.ModelProto:  # noqa: ANN003
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])
    g = helper.make_graph(nodes, "g", [x], [y], initializer=initializers)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], **kwargs)


def scalar(name: str, value: float) -> TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def hostile_graphs() -> dict[str, tuple[onnx.ModelProto, str]]:
    """name -> (a model, a word its refusal names). Each would hang or allocate gigabytes."""
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, [])])
    trips = helper.make_tensor("trips", TensorProto.INT64, [], [10**12])
    loop = graph([helper.make_node("Loop", ["trips", ""], [], name="forever", body=body),
                  helper.make_node("Identity", ["x"], ["y"])], [trips])
    huge = helper.make_tensor("shape", TensorProto.INT64, [1], [10**9])
    blowup = graph([helper.make_node("ConstantOfShape", ["shape"], ["big"], name="blowup"),
                    helper.make_node("Identity", ["x"], ["y"])], [huge])
    wide = helper.make_tensor("wide", TensorProto.FLOAT, [1000], [0.0] * 1000)
    broadcast = graph([helper.make_node("Mul", ["x", "wide"], ["y"], name="widen")], [wide])
    square = graph([helper.make_node("Mul", ["x", "x"], ["y"], name="square")], [])
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [-1, 1000])
    reshape = graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshaper")], [shape])
    custom = graph([helper.make_node("Evil", ["x"], ["y"], name="custom", domain="com.evil")], [])
    flat = helper.make_tensor("flat", TensorProto.INT64, [1], [-1])
    shadow = graph([helper.make_node("Reshape", ["x", "flat"], ["w"], name="shadow"),  # [batch] as "w"
                    helper.make_node("Mul", ["x", "w"], ["y"], name="square")],      # [batch, batch]
                   [scalar("w", 2.0), flat])
    return {"loop": (loop, "forever"), "constant_of_shape": (blowup, "blowup"), "broadcast": (broadcast, "wide"),
            "two_values": (square, "square"), "reshape": (reshape, "reshaper"), "custom": (custom, "custom"),
            "shadowed_constant": (shadow, "again")}


@pytest.mark.parametrize("name", sorted(hostile_graphs()))
def test_hostile_graphs_are_refused_naming_the_node(name: str, exported: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    model, word = hostile_graphs()[name]
    with pytest.raises(ArtifactError, match=word):
        check_onnx_bytes(model.SerializeToString(), name)
    export_dir = copy_export(exported, tmp_path / "h")
    (export_dir / "model.onnx").write_bytes(model.SerializeToString())
    rehash(export_dir)
    assert main(["verify", "--export-dir", str(export_dir), "--trust-only", "onnx"]) == 2
    one_error_line(capsys, word)


def test_our_exports_pass_and_oversized_files_are_refused_unread(exported: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    check_onnx_bytes((exported / "model.onnx").read_bytes(), "ours")
    export_dir = copy_export(exported, tmp_path / "h")
    with open(export_dir / "model.onnx", "r+b") as f:  # sparse: no disk used, 1.9 GB to a reader
        f.truncate(1_900_000_000)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    (export_dir / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", "--export-dir", str(export_dir), "--trust-only", "onnx"]) == 2
    one_error_line(capsys, "model.onnx", str(1 << 20))
    assert MAX_ONNX_BYTES == 1 << 20


def test_a_manifest_listing_an_artifact_twice_is_refused(exported: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = copy_export(exported, tmp_path / "h")
    manifest = json.loads((export_dir / "manifest.json").read_text())
    onnx_entry = next(e for e in manifest["artifacts"] if e["format"] == "onnx")
    manifest["artifacts"] += [dict(onnx_entry, format="exported_program")] * 1000  # 3,000 pass 1 MiB
    (export_dir / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", "--export-dir", str(export_dir), "1"]) == 2
    one_error_line(capsys, "again")


def test_torchscript_with_a_loop_is_refused(exported: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = copy_export(exported, tmp_path / "h")

    def edit(name: str, data: bytes) -> bytes:
        if name.endswith("linreg/models.py"):
            return data.replace(b"    weights = self.weights\n",
                                b"    while True:\n      weights = self.weights\n")
        return data
    rewrite_pt2(export_dir / "model.torchscript.pt", edit)
    with zipfile.ZipFile(export_dir / "model.torchscript.pt") as zf:
        assert any(b"while True" in zf.read(n) for n in zf.namelist() if n.endswith(".py"))
    rehash(export_dir)
    assert main(["predict", "--export-dir", str(export_dir), "--runtime", "torchscript", "1"]) == 2
    one_error_line(capsys, "While", "prim::Loop")


def test_a_stride_0_parameter_is_refused_before_it_runs(tmp_path: Path) -> None:
    import torch

    from export.loaders import load_torchscript
    from export.quiet import quiet
    from linreg.models import LinearRegressionModel

    model = LinearRegressionModel()
    model.bias = torch.nn.Parameter(torch.zeros(1, 1).expand(1, 10**6))  # 4 bytes stored, 4 MB run
    with quiet():
        torch.jit.save(torch.jit.script(model), str(tmp_path / "m.pt"))
    with pytest.raises(ArtifactError, match="strides"):
        load_torchscript(tmp_path / "m.pt")


def test_a_model_that_fails_at_run_time_is_one_error_line(exported: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A Reshape to [1, 1] passes the structural check (sizes still follow the batch) but fails
    for two inputs in ONNX Runtime: one error line naming the file, not ORT's traceback."""
    export_dir = copy_export(exported, tmp_path / "h")
    model = onnx.load(str(export_dir / "model.onnx"))
    shape = next(t for t in model.graph.initializer if list(t.dims) == [2])
    shape.CopyFrom(helper.make_tensor(shape.name, TensorProto.INT64, [2], [1, 1]))
    (export_dir / "model.onnx").write_bytes(model.SerializeToString())
    rehash(export_dir)
    assert main(["predict", "--export-dir", str(export_dir), "1", "2"]) == 2
    one_error_line(capsys, "model.onnx", "failed on the input")


@pytest.mark.parametrize("command", [["bench", "--quick", "--out", "o"],
                                     ["loadgen", "--runtime", "onnxruntime", "--scenario", "offline", "--out", "o"]])
def test_bench_and_loadgen_refuse_a_hostile_folder_before_importing_torch(command: list[str], exported: Path,
                                                                          tmp_path: Path) -> None:
    """The refusal costs the light checks only (results/fuzz/refusals.txt): torch made unimportable
    in the child proves that nothing heavy ran before it."""
    export_dir = copy_export(exported, tmp_path / "h")
    (export_dir / "model.onnx").write_bytes(hostile_graphs()["loop"][0].SerializeToString())
    rehash(export_dir)
    code = ("import sys; sys.modules['torch'] = sys.modules['onnxruntime'] = None\n"
            "from bench.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, command[0], "--export-dir", str(export_dir), *command[1:]],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("error: ")
    assert "Loop" in done.stderr
