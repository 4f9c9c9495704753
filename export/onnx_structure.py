"""Check an ONNX artifact's structure BEFORE onnx.checker or onnxruntime sees it.

onnxruntime runs whatever graph a file holds: a `Loop` with a trip count of 10^12 hangs, a
`ConstantOfShape` of 10^9 elements (a 435-byte file) allocates 4 GB, a `Constant` node whose
tensor lives in an external `w.bin` loads bytes that no manifest hash covers. So a graph is
accepted only if it has the shape our exporter writes (export/graphs.py FlatLine):

  - every tensor inline: nothing refers to external data, anywhere (initializers, Constant
    nodes, any attribute, subgraphs, functions), so the manifest's one hash covers all it loads;
  - only the default domain, no local functions, no sparse tensors, no subgraph attributes
    (no Loop/If/Scan), at most MAX_NODES nodes;
  - only Reshape, Mul, Add (and Constant); each Mul/Add combines one value with a scalar float
    constant, and each Reshape's shape is a constant of -1/1 entries: every size follows the
    input's batch dimension, never a number written in the file.

A refusal is one ArtifactError naming the node (exit 2).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from export.errors import ArtifactError
from linreg.errors import exception_line

MAX_ONNX_BYTES = 1 << 20        # ours are ~4 KB; onnxruntime would map gigabytes of a sparse file
MAX_NODES = 16                  # ours have 4
MAX_CONSTANT_ELEMENTS = 2       # ours: two scalars and the shapes [-1] and [-1, 1]
ALLOWED_OPS = frozenset({"Reshape", "Mul", "Add", "Constant"})
ALLOWED_ATTRIBUTES = {"Reshape": {"allowzero"}, "Constant": {"value"}}
DEFAULT_DOMAINS = ("", "ai.onnx")


def _tensors_of(attribute: Any) -> Iterator[Any]:
    """Every TensorProto an attribute holds (sparse ones by their values and indices)."""
    yield from ([attribute.t] if attribute.HasField("t") else [])
    yield from attribute.tensors
    for sparse in ([attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []) \
            + list(attribute.sparse_tensors):
        yield from (sparse.values, sparse.indices)


def _graphs_of(attribute: Any) -> list[Any]:
    return ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)


def external_references(graph: Any, where: str = "graph") -> Iterator[tuple[str, str]]:
    """(what, location) for every tensor of `graph` (subgraphs included) kept in external data."""
    import onnx

    def location(tensor: Any) -> str:
        entries = {e.key: e.value for e in tensor.external_data}
        return entries.get("location", "?")[:120]

    for tensor in graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            yield f"initializer {tensor.name[:60]!r}", location(tensor)
    for sparse in graph.sparse_initializer:
        for tensor in (sparse.values, sparse.indices):
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                yield f"sparse initializer {tensor.name[:60]!r}", location(tensor)
    for node in graph.node:
        name = f"node {node.name[:60]!r} ({node.op_type[:40]})"
        for attribute in node.attribute:
            for tensor in _tensors_of(attribute):
                if tensor.data_location == onnx.TensorProto.EXTERNAL:
                    yield f"{name} attribute {attribute.name[:40]!r}", location(tensor)
            for sub in _graphs_of(attribute):
                yield from external_references(sub, f"{where}/{name}")


def _numel(tensor: Any) -> int:
    return math.prod(max(int(d), 0) for d in tensor.dims)


def _constant_values(tensor: Any, source: object) -> list[float]:
    from onnx import numpy_helper

    try:
        return [float(v) for v in numpy_helper.to_array(tensor).ravel()]
    except Exception as exc:  # noqa: BLE001 - raw_data of the wrong length, ...
        raise ArtifactError(f"{source}: constant {tensor.name[:60]!r} is unreadable ({exception_line(exc)})") from None


def _constants(graph: Any, source: object) -> dict[str, Any]:
    """Name -> TensorProto of every initializer and Constant output, each small and inline."""
    import onnx

    tensors = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            tensors.update({out: node.attribute[0].t for out in node.output})
    for name, tensor in tensors.items():
        if _numel(tensor) > MAX_CONSTANT_ELEMENTS or len(tensor.dims) > 2:
            raise ArtifactError(f"{source}: constant {name[:60]!r} has shape {list(tensor.dims)[:8]}; our "
                                f"exporter writes at most {MAX_CONSTANT_ELEMENTS} elements")
        if tensor.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT64):
            raise ArtifactError(f"{source}: constant {name[:60]!r} has data type {tensor.data_type}; "
                                f"ours are float32 or int64")
    return tensors


def _check_node(node: Any, constants: dict[str, Any], source: object) -> None:
    import onnx

    name = f"{source}: node {node.name[:60]!r} ({node.op_type[:40]})"
    if node.domain not in DEFAULT_DOMAINS or node.op_type not in ALLOWED_OPS:
        raise ArtifactError(f"{name} of domain {node.domain[:40]!r} is not an op our exporter writes "
                            f"(only {', '.join(sorted(ALLOWED_OPS))} of the default domain)")
    for attribute in node.attribute:
        if attribute.name not in ALLOWED_ATTRIBUTES.get(node.op_type, ()) or _graphs_of(attribute):
            raise ArtifactError(f"{name} has attribute {attribute.name[:40]!r}, which our exporter never writes")
    if node.op_type == "Constant":
        return
    if len(node.input) != 2 or len(node.output) != 1:
        raise ArtifactError(f"{name} has {len(node.input)} inputs and {len(node.output)} outputs, expected 2 and 1")
    if node.op_type in ("Mul", "Add"):
        scalars = [i for i in node.input if i in constants and _numel(constants[i]) == 1
                   and constants[i].data_type == onnx.TensorProto.FLOAT]
        if len(scalars) != 1:  # a tensor constant or two live values would broadcast sizes up
            raise ArtifactError(f"{name} does not combine one value with one scalar float constant")
        return
    shape = constants.get(node.input[1])
    if shape is None or shape.data_type != onnx.TensorProto.INT64 or \
            any(v not in (-1.0, 1.0) for v in _constant_values(shape, source)):
        raise ArtifactError(f"{name}: its shape is not a constant of -1 and 1 entries (sizes must follow "
                            f"the batch dimension, not a number in the file)")


def parse_self_contained(data: bytes, source: object) -> Any:
    """The ModelProto in `data` (size-capped), or ArtifactError; refers to no external data."""
    import onnx

    if len(data) > MAX_ONNX_BYTES:
        raise ArtifactError(f"{source}: {len(data)} bytes, over the {MAX_ONNX_BYTES}-byte limit for ONNX")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and others
        raise ArtifactError(f"{source}: not an ONNX model ({exception_line(exc)})") from None
    for what, location in external_references(model.graph):
        raise ArtifactError(f"{source}: {what} refers to external data {location!r}, which no manifest "
                            f"hash covers; our exporter writes self-contained files")
    return model


def check_onnx_bytes(data: bytes, source: object) -> None:
    """Raise ArtifactError unless `data` is an ONNX graph of the shape our exporter writes."""
    model = parse_self_contained(data, source)
    if model.functions or model.graph.sparse_initializer:
        raise ArtifactError(f"{source}: holds local functions or sparse initializers; ours hold neither")
    domains = sorted({o.domain for o in model.opset_import} - set(DEFAULT_DOMAINS))
    if domains:
        raise ArtifactError(f"{source}: imports the op domains {domains[:4]}; ours use the default only")
    if len(model.graph.node) > MAX_NODES:
        raise ArtifactError(f"{source}: {len(model.graph.node)} nodes; our exporter writes at most {MAX_NODES}")
    _check_names(model.graph, source)
    constants = _constants(model.graph, source)
    for node in model.graph.node:
        _check_node(node, constants, source)


def _check_names(graph: Any, source: object) -> None:
    """Each value defined once: a node output named like a scalar initializer would stand in for
    it at run time, and x [batch, 1] times a [batch] value is [batch, batch]."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    if len(defined) != len(graph.input) + len(graph.initializer):
        raise ArtifactError(f"{source}: a graph input and an initializer share a name")
    for node in graph.node:
        for name in node.output:
            if name in defined:
                raise ArtifactError(f"{source}: node {node.name[:60]!r} ({node.op_type[:40]}) defines "
                                    f"{name[:60]!r} again; every value is defined once")
            defined.add(name)


__all__ = ["check_onnx_bytes", "parse_self_contained", "external_references", "ALLOWED_OPS", "MAX_ONNX_BYTES"]
