"""The export folder's contract: manifest.json (what was written, from which checkpoint, with which
hashes) and the interface every artifact keeps (input x, output y, both float32 [batch, 1]).

Format history (`manifest_version`):
  1: source_checkpoint {path, sha256}, model, versions, artifacts [{format, path, sha256, ...}]
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from export.errors import ArtifactError
from linreg.untrusted import (UntrustedFileError, check_regular_file, load_json, require, require_text,
                              require_type)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20  # ours are ~2 KB
FORMATS = ("torchscript", "onnx", "exported_program")
INPUT_NAME = "x"    # the ONNX input: float32 [batch, 1]
OUTPUT_NAME = "y"   # the ONNX output: float32 [batch, 1]
IO_SHAPE = ["batch", 1]
ONNX_CHECKPOINT_KEY = "linreg.source_checkpoint_sha256"  # ONNX metadata_props: where it came from
# Per-format size caps, checked before a byte is hashed: ours are 4-8 KB.
ARTIFACT_MAX_BYTES = {"torchscript": 16 << 20, "onnx": 1 << 20, "exported_program": 16 << 20}
# The file name each format is written under, inside the export folder.
ARTIFACT_NAMES = {
    "torchscript": "model.torchscript.pt",
    "onnx": "model.onnx",
    "exported_program": "model.pt2",
}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_inside(folder: Path, relative: str) -> Path:
    """`folder / relative`, refusing absolute paths and paths that climb out of `folder`."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts or "\\" in relative:
        raise ArtifactError(f"manifest path {relative!r} is not a plain path inside {folder}")
    path = folder / Path(*pure.parts)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ArtifactError(f"manifest path {relative!r} leaves {folder}")
    return path


def resolve_checkpoint(export_dir: Path, recorded: str) -> Path:
    """The recorded source checkpoint: absolute as written, or relative to the export folder."""
    path = Path(recorded)
    return path if path.is_absolute() else export_dir / path


def load_manifest_json(export_dir: Path) -> dict[str, Any]:
    """Parse and shape-check manifest.json, without touching the artifacts."""
    if not export_dir.exists():
        raise ArtifactError(f"export folder not found: {export_dir}")
    if not export_dir.is_dir():
        raise ArtifactError(f"export folder is not a folder: {export_dir}")
    path = export_dir / MANIFEST_NAME
    if not path.exists():
        raise ArtifactError(f"no {MANIFEST_NAME} in {export_dir} (is it an export folder?)")
    try:
        manifest = load_json(path, max_bytes=MAX_MANIFEST_BYTES)
        _check_manifest_fields(manifest, path)
    except UntrustedFileError as exc:
        raise ArtifactError(str(exc)) from None
    return manifest


def _check_manifest_fields(manifest: Any, path: Path) -> None:
    """Types, NUL bytes and known values of every field that is used: errors name the field."""
    require_type(manifest, dict, path, "(top level)")
    artifacts = require(manifest, "artifacts", list, path)
    version = manifest.get("manifest_version")
    if version != MANIFEST_VERSION or isinstance(version, bool):
        raise ArtifactError(f"{path} has manifest_version {str(version)[:40]!r}, expected {MANIFEST_VERSION}")
    require(manifest, "source_checkpoint", dict, path)
    for key in ("path", "sha256"):
        require_text(require(manifest["source_checkpoint"], key, str, path, "source_checkpoint"),
                     path, f"source_checkpoint.{key}")
    for i, entry in enumerate(artifacts):
        where = f"artifacts[{i}]"
        fmt = require_text(require(entry, "format", str, path, where), path, f"{where}.format")
        if fmt not in FORMATS:
            raise ArtifactError(f"unknown artifact format {fmt[:40]!r} in {path} (known: {', '.join(FORMATS)})")
        require_text(require(entry, "path", str, path, where), path, f"{where}.path")
        require_text(require(entry, "sha256", str, path, where), path, f"{where}.sha256", max_chars=128)
    _check_listed_once(artifacts, path)


def _check_listed_once(artifacts: list[dict[str, Any]], path: Path) -> None:
    """Each format and each file once: a file listed 3,000 times would be hashed 3,000 times."""
    seen: set[str] = set()
    for i, entry in enumerate(artifacts):
        for key in ("format", "path"):
            value = f"{key}:{entry[key]}"
            if value in seen:
                raise ArtifactError(f"{path}: artifacts[{i}] lists {key} {entry[key][:60]!r} again; "
                                    f"each artifact is listed once")
            seen.add(value)


def check_no_strays(export_dir: Path, manifest: dict[str, Any]) -> None:
    """Refuse a file in the folder that no artifact names: a runtime could load it (an ONNX
    external-data sidecar) and no hash covers it."""
    named = {MANIFEST_NAME} | {PurePosixPath(e["path"]).parts[0] for e in manifest["artifacts"]}
    try:
        names = sorted(p.name for p in export_dir.iterdir())
    except OSError as exc:
        raise ArtifactError(f"cannot list the export folder {export_dir} ({exc.strerror or exc})") from None
    strays = [n for n in names if n not in named]
    if strays:
        raise ArtifactError(f"{export_dir / strays[0]} is in the export folder but no artifact in "
                            f"{MANIFEST_NAME} names it; refusing the folder (no hash covers it)")


def check_artifacts(export_dir: Path, manifest: dict[str, Any]) -> None:
    """Re-hash every artifact and compare with the manifest; the first mismatch raises.
    Sizes are checked first, so a huge (or sparse) file is refused unread."""
    for entry in manifest["artifacts"]:
        path = resolve_inside(export_dir, entry["path"])
        if not path.is_file():
            raise ArtifactError(f"{entry['format']} artifact missing: {path}")
        try:
            check_regular_file(path, ARTIFACT_MAX_BYTES[entry["format"]])
        except UntrustedFileError as exc:
            raise ArtifactError(str(exc)) from None
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise ArtifactError(
                f"{entry['format']} artifact {path} does not match its manifest sha256 "
                f"(truncated or tampered: {actual[:12]}... != {str(entry['sha256'])[:12]}...)"
            )
    if manifest["artifacts"]:  # an empty list is refused by its reader, with its own message
        check_no_strays(export_dir, manifest)


def artifact_entry(manifest: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The manifest entry of one format, or an error naming what the folder holds."""
    if fmt not in FORMATS:
        raise ArtifactError(f"unknown artifact format {fmt!r} (known: {', '.join(FORMATS)})")
    for entry in manifest["artifacts"]:
        if entry["format"] == fmt:
            return entry
    held = ", ".join(e["format"] for e in manifest["artifacts"]) or "none"
    raise ArtifactError(f"the export folder holds no {fmt} artifact (it holds: {held})")
