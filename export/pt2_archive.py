"""Inspect a .pt2 (torch.export.save) archive BEFORE torch.export.load sees it.

torch.export.load trusts its file. Read in torch 2.13's own source, it will:
  - unpickle with weights_only=False any weight or constant whose config says "use_pickle": true
    (torch/export/pt2_archive/_package.py, _load_state_dict/_load_constants);
  - unpickle custom_obj_*/opaque_obj_* constants with pickle.loads / torch._C._pickle_load_obj;
  - unpickle data/sample_inputs/<model>.pt, falling back to weights_only=False when the safe
    unpickler refuses it (torch/_export/serde/serialize.py, deserialize_torch_artifact);
  - sympy.sympify every symbolic-shape `expr_str` of the graph, which is eval();
  - exec() the graph's `guards_code` strings as Python when .module() is called
    (torch/export/_unlift.py, _convert_guards_code_to_fn);
  - fall back to a pre-2.7 zip layout full of pickles when the new layout fails.
Each of those runs code from the file. So an archive is accepted only if it looks exactly like
what our exporter (export/exporters.py) writes: a fixed set of entries, raw (non-pickled)
weights, no custom objects, no guard code, only the handful of aten ops our two models compile
to, symbolic sizes that are plain `Symbol('s<n>', ...)`, and a sample-inputs pickle that the
weights-only unpickler loads. Anything else is an ArtifactError (exit 2), before loading.
The caller then loads the very bytes that were checked (no second read of the file).
"""
from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

from export.archive_entries import archive_entries, read_entry
from export.errors import ArtifactError
from linreg.untrusted import UntrustedFileError, parse_json

MAX_ENTRY_BYTES = 16 << 20  # our archives are ~8 KB; an entry this big is not one of ours
MAX_ENTRIES = 64
MODEL = "model"  # torch.export.save names the one program "model"
# Entry names (below the archive's one root folder) that torch.export.save writes for our models.
_ALLOWED_ENTRY = re.compile(
    r"archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/sample_inputs/model\.pt"
    r"|data/weights/model_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+"
)
# The aten ops that LinearRegressionModel (mul, add) and nn.Linear (linear) export to, plus the
# shape ops a re-export of them may add. Nothing with side effects, no higher-order ops.
ALLOWED_TARGETS = frozenset(f"torch.ops.aten.{op}" for op in (
    "mul.Tensor", "add.Tensor", "linear.default", "addmm.default", "mm.default", "t.default",
    "permute.default", "view.default", "reshape.default", "unsqueeze.default", "squeeze.dim",
    "clone.default", "sym_size.int",  # no expand: a constant size in it allocated 8 GB
))
# A symbolic size as torch writes it: Symbol('s77', positive=True, integer=True), or arithmetic
# of such symbols and integers. No dots, brackets or other names: sympify() is eval().
_SYMBOL = r"Symbol\('[su]\d+'(?:, (?:positive|integer|nonnegative)=(?:True|False))*\)"
_SAFE_EXPR = re.compile(rf"^(?:{_SYMBOL}|[su]\d+|\d+|[ ()+*\-])*$")


def _entries(data: bytes, source: object) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    zf, entries = archive_entries(data, source, ".pt2", _ALLOWED_ENTRY, MAX_ENTRIES, MAX_ENTRY_BYTES)
    for needed in ("archive_format", "models/model.json", "data/weights/model_weights_config.json",
                   "data/constants/model_constants_config.json"):
        if needed not in entries:
            zf.close()
            raise ArtifactError(f"{source}: archive has no {needed} (not a torch.export.save archive)")
    return zf, entries


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: object) -> bytes:
    return read_entry(zf, info, source, MAX_ENTRY_BYTES)


def _json_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: object) -> Any:
    try:
        return parse_json(_read(zf, info, source), f"{source}:{info.filename}")
    except UntrustedFileError as exc:
        raise ArtifactError(str(exc)) from None


def _check_payload_config(config: Any, where: str, prefix: str, entries: dict[str, zipfile.ZipInfo],
                          folder: str) -> None:
    """weights/constants config: every payload raw (use_pickle false), named prefix<n>, present."""
    items = config.get("config") if isinstance(config, dict) else None
    if not isinstance(items, dict):
        raise ArtifactError(f"{where}: field config: expected an object")
    for fqn, meta in items.items():
        field = f"config.{str(fqn)[:60]}"
        if not isinstance(meta, dict):
            raise ArtifactError(f"{where}: field {field}: expected an object")
        if meta.get("use_pickle") is not False:
            raise ArtifactError(
                f"{where}: field {field}.use_pickle is {meta.get('use_pickle')!r}: the archive asks for a "
                f"pickled payload, which torch.export.load unpickles with weights_only=False "
                f"(it could run code); refusing it")
        path_name = meta.get("path_name")
        if not isinstance(path_name, str) or not re.fullmatch(rf"{prefix}\d+", path_name):
            raise ArtifactError(f"{where}: field {field}.path_name: {str(path_name)[:60]!r} is not "
                                f"a raw {prefix}<n> payload")
        if f"{folder}{path_name}" not in entries:
            raise ArtifactError(f"{where}: field {field}.path_name: {path_name} is not in the archive")


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, depth-first, without recursion."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield key, value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _check_program(program: Any, where: str) -> None:
    """The graph JSON: no guard code, no custom objects, allowed ops, plain symbolic sizes."""
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise ArtifactError(f"{where}: not a serialized ExportedProgram (no graph_module)")
    if program.get("guards_code", []) != []:
        raise ArtifactError(f"{where}: field guards_code is not empty: torch.export runs it as Python "
                            f"code; our exporter writes none, refusing it")
    for key, value in _walk(program):
        if key == "target" and value not in ALLOWED_TARGETS:
            raise ArtifactError(f"{where}: field target: operator {str(value)[:80]!r} is not one our "
                                f"exporter writes (allowed: aten arithmetic and shape ops)")
        if key == "expr_str" and not (isinstance(value, str) and _SAFE_EXPR.fullmatch(value)):
            raise ArtifactError(f"{where}: field expr_str: {str(value)[:80]!r} is not a plain symbolic "
                                f"size (torch evaluates it with sympify, i.e. eval); refusing it")
        if key in ("custom_obj_values", "sym_bool_values", "sym_float_values") and value:
            raise ArtifactError(f"{where}: field {key} is not empty: our exporter writes none")


def _check_sample_inputs(data: bytes, where: str) -> None:
    """The sample inputs are a pickle: it must load with weights_only=True, as ours does."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any refusal means: not plain tensors
        raise ArtifactError(f"{where}: holds a pickle that the weights-only unpickler refuses "
                            f"(torch.export.load would retry it with weights_only=False); refusing it") from None


def check_pt2_bytes(data: bytes, source: object) -> None:
    """Raise ArtifactError unless `data` is a .pt2 archive of the kind our exporter writes."""
    zf, entries = _entries(data, source)
    with zf:
        root = next(iter(entries.values())).filename.split("/", 1)[0]
        if _read(zf, entries["archive_format"], source).strip() != b"pt2":
            raise ArtifactError(f"{source}: archive_format is not pt2")
        for kind, prefix in (("weights", "weight_"), ("constants", "tensor_")):
            info = entries[f"data/{kind}/model_{kind}_config.json"]
            _check_payload_config(_json_entry(zf, info, source), f"{source}:{info.filename}", prefix,
                                  entries, f"data/{kind}/")
        info = entries["models/model.json"]
        _check_program(_json_entry(zf, info, source), f"{source}:{info.filename}")
        if "data/sample_inputs/model.pt" in entries:
            info = entries["data/sample_inputs/model.pt"]
            _check_sample_inputs(_read(zf, info, source), f"{source}:{root}/data/sample_inputs/model.pt")


__all__ = ["check_pt2_bytes", "ALLOWED_TARGETS", "MAX_ENTRY_BYTES"]
