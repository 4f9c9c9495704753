"""Inspect a TorchScript archive BEFORE torch.jit.load compiles and runs any of it.

What torch.jit.load does with a crafted file (tried here, torch 2.13; tests/test_hostile_torchscript.py):
the archive's code/*.py is TorchScript source that load() compiles, and a module's `__setstate__`
in it RUNS during load, before the caller sees the module. TorchScript can call any registered
operator. `torch.from_file(path, shared=True, ...)` maps an existing file writable, so a hand-edited
`__setstate__` overwrites any file the user can write (~/.bashrc, a site-packages .pth: code
execution at the next shell or Python start). Nothing in torch checks this; the file's sha256 in
our manifest does not help, since whoever hands over the folder hands over the manifest too.

What can be closed, and is, before load: the archive must look like what our exporter writes
(torch.jit.script of LinearRegressionModel / LinearRegressionModelV2):
  - a fixed set of entry names: no extra/ files, no other code files;
  - the code is straight-line: no loop or branch (prim::Loop, prim::If), which could hang predict;
  - the code parses as Python (ast.parse never executes) and uses only the identifiers our two
    models compile to: no `__setstate__`, no from_file, no getattr, no ops.*; calls only
    torch.mul, torch.add, torch.linear and a submodule's forward;
  - every pickle in it (data.pkl, constants.pkl, *.debug_pkl) names only our classes and the
    tensor-rebuild globals (a static opcode scan, nothing unpickled).
What remains: memory-safety bugs in torch's C++ zip reader and unpickler, which no check above the
C++ loader can rule out. The README says so: running a stranger's TorchScript is the user's call.
"""
from __future__ import annotations

import ast
import pickletools
import re

from export.archive_entries import archive_entries, read_entry
from export.errors import ArtifactError

MAX_ENTRY_BYTES = 16 << 20
MAX_ENTRIES = 64
_ALLOWED_ENTRY = re.compile(
    r"data\.pkl|constants\.pkl|version|byteorder|\.data/version|\.data/serialization_id|data/\d+"
    r"|code/__torch__/linreg/models\.py(?:\.debug_pkl)?"
    r"|code/__torch__/torch/nn/modules/linear\.py(?:\.debug_pkl)?"
)
# Every identifier (name or attribute) in the code that torch.jit.save writes for our two models.
ALLOWED_IDENTIFIERS = frozenset({
    "LinearRegressionModel", "LinearRegressionModelV2", "Linear", "Module", "__torch__", "linreg",
    "models", "torch", "nn", "modules", "linear", "__parameters__", "__buffers__", "weights", "bias",
    "weight", "training", "_is_full_backward_hook", "linear_layer", "out_features", "in_features",
    "Tensor", "Optional", "Final", "NoneType", "bool", "int", "self", "x", "input", "forward",
    "mul", "add",
})
ALLOWED_CALLS = frozenset({"torch.mul", "torch.add", "torch.linear", "forward"})
_TEMP_NAME = re.compile(r"_\d+")  # the compiler's temporaries: _0, _1, ...
# Statements our two forwards never compile to: loops and branches (prim::Loop, prim::If: a
# `while True:` hangs predict), and everything else that is not straight-line code.
CONTROL_FLOW = (ast.While, ast.For, ast.AsyncFor, ast.If, ast.IfExp, ast.Try, ast.With, ast.AsyncWith,
                ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Raise,
                ast.Assert, ast.Break, ast.Continue, ast.Global, ast.Nonlocal, ast.Import,
                ast.ImportFrom, ast.Delete, ast.Yield, ast.YieldFrom, ast.Await)
ALLOWED_GLOBALS = frozenset({
    "__torch__.linreg.models LinearRegressionModel", "__torch__.linreg.models LinearRegressionModelV2",
    "__torch__.torch.nn.modules.linear Linear", "torch._utils _rebuild_tensor_v2",
    "torch FloatStorage", "collections OrderedDict", "torch.jit._pickle build_intlist",
})


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def check_code(text: str, where: str) -> None:
    """TorchScript source: only our models' identifiers and calls; nothing that runs at load time."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ArtifactError(f"{where}: TorchScript code that does not parse ({type(exc).__name__})") from None
    for node in ast.walk(tree):
        if isinstance(node, CONTROL_FLOW):
            raise ArtifactError(f"{where}: line {getattr(node, 'lineno', '?')}: {type(node).__name__} "
                                f"(control flow, prim::Loop/prim::If); our exporter writes straight-line "
                                f"forward code only")
        if isinstance(node, ast.FunctionDef) and node.name != "forward":
            raise ArtifactError(f"{where}: defines {node.name[:60]!r}; our exporter writes only forward "
                                f"(a __setstate__ would run during torch.jit.load)")
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name is not None and name not in ALLOWED_IDENTIFIERS and not _TEMP_NAME.fullmatch(name):
            raise ArtifactError(f"{where}: uses {name[:60]!r}, which our exporter never writes; refusing "
                                f"to compile a stranger's TorchScript")
        if isinstance(node, ast.Call):
            target = _dotted(node.func)
            if target not in ALLOWED_CALLS and not target.endswith(".forward"):
                raise ArtifactError(f"{where}: calls {target[:60] or 'an expression'!r}, which our "
                                    f"exporter never writes")


def check_pickle_globals(data: bytes, where: str) -> None:
    """Static opcode scan: the pickle may name only our classes and tensor rebuilding."""
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                name = str(arg)
            elif op.name in ("STACK_GLOBAL", "INST", "OBJ"):  # names from the stack/memo: not statically known
                raise ArtifactError(f"{where}: pickle opcode {op.name} is never in our archives")
            else:
                continue
            if name not in ALLOWED_GLOBALS:
                raise ArtifactError(f"{where}: pickle names {name[:80]!r}, not a class our exporter writes")
    except ArtifactError:
        raise
    except Exception as exc:  # noqa: BLE001 - pickletools raises ValueError and others on junk
        raise ArtifactError(f"{where}: not a readable pickle ({type(exc).__name__})") from None


def check_torchscript_bytes(data: bytes, source: object) -> None:
    """Raise ArtifactError unless `data` is a TorchScript archive of the kind our exporter writes."""
    zf, entries = archive_entries(data, source, "TorchScript", _ALLOWED_ENTRY, MAX_ENTRIES, MAX_ENTRY_BYTES)
    with zf:
        if "data.pkl" not in entries:
            raise ArtifactError(f"{source}: archive has no data.pkl (not a TorchScript archive)")
        for name, info in entries.items():
            if not (name.startswith("code/") or name.endswith("pkl")):
                continue
            blob = read_entry(zf, info, source, MAX_ENTRY_BYTES)
            where = f"{source}:{info.filename[:120]}"
            if name.endswith(".py"):
                check_code(blob.decode("utf-8", errors="replace"), where)
            else:
                check_pickle_globals(blob, where)


__all__ = ["check_torchscript_bytes", "check_code", "check_pickle_globals", "ALLOWED_IDENTIFIERS"]
