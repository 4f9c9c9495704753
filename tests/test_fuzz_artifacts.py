"""Fuzz campaign (issue 24): generated ONNX graphs and output destinations.

Properties: the ONNX structural check raises only ArtifactError (never another exception), and a
graph it accepts runs in onnxruntime to an output no larger than the input's batch (sizes follow
the batch, whatever the file says). An atomic write replaces only nothing or a regular file: a
folder, a link, a FIFO or a device is refused and left as it was. Profiles: tests/fuzz_profiles.py.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import event, given, strategies as st
from onnx import TensorProto, helper

from export.errors import ArtifactError
from export.onnx_structure import check_onnx_bytes
from linreg.errors import LinregError
from linreg.files import write_text_atomic
from tests import fuzz_profiles  # noqa: F401 - registers and loads the profile

OPS = ["Reshape", "Mul", "Add", "Constant", "Loop", "If", "Scan", "ConstantOfShape", "Expand", "Tile",
       "Identity", "MatMul", "Range", "Resize", "Pad"]


@pytest.fixture(scope="module")
def ours(exported: Path) -> onnx.ModelProto:
    return onnx.load(str(exported / "model.onnx"))


def mutate_graph(model: onnx.ModelProto, data: st.DataObject) -> onnx.ModelProto:
    """Our graph with a few nodes, initializers or imports changed, as an attacker would."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        kind = data.draw(st.sampled_from(["op", "domain", "dims", "external", "attr", "shape", "add_node",
                                          "opset"]), label="kind")
        node = m.graph.node[data.draw(st.integers(0, len(m.graph.node) - 1), label="node")]
        init = m.graph.initializer[data.draw(st.integers(0, len(m.graph.initializer) - 1), label="init")]
        if kind == "op":
            node.op_type = data.draw(st.sampled_from(OPS), label="op")
        elif kind == "domain":
            node.domain = data.draw(st.sampled_from(["", "ai.onnx", "com.microsoft", "x"]), label="domain")
        elif kind == "dims":
            init.dims[:] = data.draw(st.lists(st.integers(0, 10**9), max_size=3), label="dims")
        elif kind == "external":
            init.data_location = TensorProto.EXTERNAL
            entry = init.external_data.add()
            entry.key, entry.value = "location", data.draw(st.sampled_from(["w.bin", "/dev/zero", "../x"]))
        elif kind == "attr":
            node.attribute.append(helper.make_attribute(data.draw(st.sampled_from(["body", "value", "k"])),
                                                        data.draw(st.integers(-5, 10**12))))
        elif kind == "shape" and init.data_type == TensorProto.INT64:
            values = data.draw(st.lists(st.integers(-2, 10**9), min_size=1, max_size=2), label="shape")
            init.CopyFrom(helper.make_tensor(init.name, TensorProto.INT64, [len(values)], values))
        elif kind == "add_node":
            m.graph.node.insert(0, helper.make_node(data.draw(st.sampled_from(OPS)), ["x", init.name],
                                                    [node.input[0]] if node.input else ["t"]))
        elif kind == "opset":
            m.opset_import.add(domain="com.evil", version=1)
    return m


@given(data=st.data())
def test_generated_graphs_are_refused_or_sized_by_the_batch(ours: onnx.ModelProto, data: st.DataObject) -> None:
    import onnxruntime as ort

    model = mutate_graph(ours, data)
    raw = model.SerializeToString()
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[:data.draw(st.integers(0, len(raw)), label="cut")]
    try:
        check_onnx_bytes(raw, "fuzzed.onnx")
    except ArtifactError:
        event("refused by the structural check")
        return
    event("accepted: run in onnxruntime")
    try:
        session = ort.InferenceSession(raw)
        y = session.run(None, {"x": np.ones((3, 1), np.float32)})[0]
    except Exception:  # noqa: BLE001 - ORT may still refuse a graph; what matters is that it is bounded
        return
    assert np.asarray(y).size <= 3


KINDS = ["absent", "regular", "folder", "symlink", "dangling", "fifo", "chardev"]


def make(path: Path, kind: str) -> None:
    if kind == "regular":
        path.write_text("old")
    elif kind == "folder":
        path.mkdir()
    elif kind == "symlink":
        (path.parent / "target").write_text("keep")
        path.symlink_to(path.parent / "target")
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "chardev":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except OSError:  # not root: a FIFO stands in
            os.mkfifo(path)


@given(kind=st.sampled_from(KINDS), text=st.text(max_size=50))
def test_atomic_writes_replace_only_nothing_or_a_regular_file(kind: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.txt"
        make(path, kind)
        before = os.lstat(path).st_mode if kind != "absent" else None
        try:
            write_text_atomic(path, text)
        except LinregError:
            event(f"refused: {kind}")
            assert kind not in ("absent", "regular")
            assert os.lstat(path).st_mode == before  # left exactly as it was
        else:
            assert kind in ("absent", "regular") and path.read_bytes() == text.encode("utf-8")
        assert not [p for p in Path(tmp).iterdir() if p.name.endswith(".tmp")]
        if kind == "symlink":
            assert (Path(tmp) / "target").read_text() == "keep"
