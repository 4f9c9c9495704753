"""Load export artifacts in their own runtimes: the API that `bench` and `verify` stand on.

Heavy runtimes (onnxruntime, onnx) are imported inside the functions that need them.
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from export.errors import ArtifactError, RuntimeUnavailableError
from export.admission import MAX_ARTIFACT_BYTES, admit_export_folder, read_untrusted
from export.manifest import ARTIFACT_MAX_BYTES
from export.onnx_structure import check_onnx_bytes, parse_self_contained
from export.pt2_archive import check_pt2_bytes
from export.torchscript_archive import check_torchscript_bytes
from export.quiet import quiet
from linreg.device import DeviceError, parse_device
from linreg.errors import exception_line

if TYPE_CHECKING:
    import onnxruntime

__all__ = [
    "read_manifest", "load_torchscript", "load_exported_program", "make_ort_session",
    "ort_providers_for",
]


def read_manifest(export_dir: str | os.PathLike[str], check_programs: bool = True) -> dict[str, Any]:
    """manifest.json of an export folder, after re-checking every artifact's sha256 and the .pt2's safety."""
    return admit_export_folder(export_dir, check_programs)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise ArtifactError(f"{what} not found: {path}")
    if not path.is_file():
        raise ArtifactError(f"{what} is not a file: {path}")


def _load_checked(path: str | os.PathLike[str], kind: str, check: Callable[[bytes, Path], None],
                  load: Callable[[io.BytesIO], Any]) -> Any:
    """Read the file once (regular file, size-bounded), inspect the bytes with `check`, then load
    these very bytes (not the file again) with torch's warnings contained."""
    source = Path(path)
    _require_file(source, f"{kind} artifact")
    data = read_untrusted(source, MAX_ARTIFACT_BYTES)
    check(data, source)
    try:
        with quiet():
            return load(io.BytesIO(data))
    except Exception as exc:  # truncated zip, not an archive of this kind, ...
        raise ArtifactError(f"cannot load {kind} {source} ({exception_line(exc)})") from None


MAX_PARAMETER_ELEMENTS = 16  # ours hold one weight and one bias


def check_tensors(module: torch.nn.Module, source: object, kind: str) -> None:
    """Refuse a loaded module whose parameters or buffers are not our two small dense tensors: a
    bias of size (1, 10^9) with stride 0 costs nothing to load and 13 GB to run."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.numel() > MAX_PARAMETER_ELEMENTS or 0 in tensor.stride() and tensor.numel() > 1:
            raise ArtifactError(f"{source}: {kind} tensor {name[:60]!r} has size {list(tensor.shape)[:4]} "
                                f"and strides {list(tensor.stride())[:4]}; ours are {MAX_PARAMETER_ELEMENTS} "
                                f"dense elements at most")


def load_torchscript(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> torch.jit.ScriptModule:
    """torch.jit.load, in eval mode. load() compiles the archive's code and runs its
    __setstate__, so the archive is inspected first (export/torchscript_archive)."""
    module = _load_checked(path, "TorchScript", check_torchscript_bytes,
                           lambda f: torch.jit.load(f, map_location=device))
    check_tensors(module, path, "TorchScript")
    return module.eval()


def load_exported_program(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """torch.export.load(path).module(): a callable nn.Module with a dynamic batch dimension.
    Pickles and code are refused before torch sees the archive (export/pt2_archive)."""
    module = _load_checked(path, "ExportedProgram", check_pt2_bytes, lambda f: torch.export.load(f).module())
    check_tensors(module, path, "ExportedProgram")
    return module.to(device)


def ort_providers_for(device: str) -> tuple[str, list[Any]]:
    """(the provider that must run, the providers list for InferenceSession) for a device spec."""
    try:
        spec = parse_device(device)
    except DeviceError:
        spec = None
    if spec is not None and spec.kind == "cpu":
        return "CPUExecutionProvider", ["CPUExecutionProvider"]
    if spec is None or spec.kind != "cuda":
        raise RuntimeUnavailableError(f"unknown onnxruntime device {device!r} (choose cpu, cuda, cuda:N)")
    return "CUDAExecutionProvider", [("CUDAExecutionProvider", {"device_id": spec.ordinal})]


def make_ort_session(
    path: str | os.PathLike[str], device: str = "cpu", threads: int = 1, *, spinning: bool | None = None,
    check_graph: bool = True,
) -> onnxruntime.InferenceSession:
    """An ORT session pinned to `threads` intra-op threads, 1 inter-op thread, sequential.

    One thread by default so ORT's spinning pool cannot steal cores from torch in the same
    process, and comparisons with numpy (single-threaded) are like for like. ORT silently falls
    back to the CPU when a provider fails to load, so the provider that actually runs
    (`session.get_providers()[0]`) is checked against the one requested, and a mismatch raises.
    `spinning` sets session.intra_op.allow_spinning (None: ORT's default, which spins).
    `check_graph=False` (bench --run-unchecked-onnx, in a bounded worker only) skips the exporter-shape
    check; the file must still be self-contained.
    """
    import onnxruntime as ort

    source = Path(path)
    _require_file(source, "ONNX artifact")
    if threads < 1:
        raise RuntimeUnavailableError(f"threads must be >= 1, got {threads}")
    data = read_untrusted(source, ARTIFACT_MAX_BYTES["onnx"])
    (check_onnx_bytes if check_graph else parse_self_contained)(data, source)  # also on a bare path
    wanted, providers = ort_providers_for(device)
    available = ort.get_available_providers()
    if wanted not in available:
        raise RuntimeUnavailableError(
            f"onnxruntime has no {wanted} on this machine (available: {', '.join(available)}); "
            f"device {device!r} needs onnxruntime-gpu and a GPU"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no provider-fallback chatter on stderr
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    try:
        with warnings.catch_warnings():
            # ORT warns "Specified provider ... is not in available provider names" and falls
            # back; the check below turns that into an error that says so.
            warnings.filterwarnings("ignore", message="Specified provider", category=UserWarning)
            session = ort.InferenceSession(data, sess_options=options, providers=providers)  # the checked bytes
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... for bad files
        raise ArtifactError(f"cannot load ONNX {source} in onnxruntime ({exception_line(exc)})") from None
    running = session.get_providers()
    if not running or running[0] != wanted:
        raise RuntimeUnavailableError(
            f"onnxruntime runs {running[0] if running else 'nothing'} instead of the requested "
            f"{wanted} for {source} (it fell back silently)"
        )
    return session
