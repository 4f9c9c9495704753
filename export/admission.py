"""Admit an export folder before any runtime sees it: hashes, then every artifact's structure.

Light on purpose (no torch, no onnxruntime; onnx is imported only to parse the graph): the CLI runs
this first for `verify` and `predict` (bench/cli.py), so a hostile folder is
refused in well under a second instead of after torch's 1.5 s import. export.loaders runs the same
checks again on its own path (a caller of the Python API gets them too).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from export.errors import ArtifactError
from export.manifest import ARTIFACT_MAX_BYTES, check_artifacts, load_manifest_json, resolve_inside
from export.onnx_structure import check_onnx_bytes, parse_self_contained
from export.pt2_archive import check_pt2_bytes
from export.torchscript_archive import check_torchscript_bytes
from linreg.untrusted import UntrustedFileError, read_bytes

MAX_ARTIFACT_BYTES = max(ARTIFACT_MAX_BYTES.values())  # ours are kilobytes: bounds what a stranger makes us read
# The program formats: their archives are inspected before any runtime loads them.
PROGRAM_CHECKS = {"exported_program": check_pt2_bytes, "torchscript": check_torchscript_bytes}


def read_untrusted(path: Path, max_bytes: int) -> bytes:
    """An artifact's bytes (regular file, size-bounded), as an ArtifactError when refused."""
    try:
        return read_bytes(path, max_bytes)
    except UntrustedFileError as exc:
        raise ArtifactError(str(exc)) from None


def admit_export_folder(export_dir: str | os.PathLike[str], check_programs: bool = True,
                        check_graphs: bool = True) -> dict[str, Any]:
    """manifest.json of an export folder, after re-checking every artifact's sha256 and shape.

    `check_programs`: inspect the TorchScript and .pt2 archives (off for `verify --trust-only onnx`,
    which loads no program). `check_graphs`: the ONNX graph's exporter shape (off only for
    --run-unchecked-onnx, which runs it in a bounded child; external data is refused either way)."""
    folder = Path(export_dir)
    manifest = load_manifest_json(folder)
    check_artifacts(folder, manifest)
    for entry in manifest["artifacts"]:  # a hostile artifact is refused up front, before any runtime
        check = PROGRAM_CHECKS.get(entry["format"]) if check_programs else None
        if entry["format"] == "onnx":  # data, but a hostile graph hangs or fills memory: always checked
            check = check_onnx_bytes if check_graphs else parse_self_contained
        if check is not None:
            path = resolve_inside(folder, entry["path"])
            check(read_untrusted(path, MAX_ARTIFACT_BYTES), path)
    return manifest


__all__ = ["admit_export_folder", "read_untrusted", "MAX_ARTIFACT_BYTES"]
