"""Structural checks of an ONNX artifact with onnx itself: the full checker and shape inference."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from export.errors import ArtifactError
from export.manifest import INPUT_NAME, OUTPUT_NAME
from linreg.errors import exception_line


def _dims(value_info: Any) -> list[str | int]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param if d.dim_param else d.dim_value for d in dims]


def check_onnx(path: str | Path) -> dict[str, Any]:
    """onnx.checker (full_check) + strict shape inference + our interface: x[batch,1] -> y[batch,1]."""
    import onnx

    source = Path(path)
    try:
        model = onnx.load(str(source), load_external_data=False)
        onnx.checker.check_model(str(source), full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - DecodeError, ValidationError, InferenceError
        raise ArtifactError(f"ONNX check failed for {source} ({exception_line(exc)})") from None
    inputs = {i.name: _dims(i) for i in inferred.graph.input}
    outputs = {o.name: _dims(o) for o in inferred.graph.output}
    if list(inputs) != [INPUT_NAME] or list(outputs) != [OUTPUT_NAME]:
        raise ArtifactError(f"{source} has inputs {list(inputs)} and outputs {list(outputs)}, expected x -> y")
    for name, dims in {**inputs, **outputs}.items():
        if len(dims) != 2 or not isinstance(dims[0], str) or dims[1] != 1:
            raise ArtifactError(f"{source}: {name} has shape {dims}, expected [batch, 1] (dynamic batch)")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ArtifactError(f"{source} refers to external data for {external}: it is not self-contained")
    metadata = {p.key: p.value for p in model.metadata_props}
    return {"opset": opset, "ir_version": model.ir_version, "inputs": inputs, "outputs": outputs,
            "metadata": metadata}
