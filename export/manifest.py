"""manifest.json of an export folder: what was written, from which checkpoint, with which hashes.

Format history (`manifest_version`):
  1: source_checkpoint {path, sha256}, model, versions, artifacts [{format, path, sha256, ...}]
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from export.errors import ArtifactError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
FORMATS = ("torchscript", "onnx", "exported_program")
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
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST_NAME} in {export_dir} (is it an export folder?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read {path} ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), list):
        raise ArtifactError(f"{path} is not an export manifest (no artifacts list)")
    version = manifest.get("manifest_version")
    if version != MANIFEST_VERSION:
        raise ArtifactError(f"{path} has manifest_version {version!r}, expected {MANIFEST_VERSION}")
    source = manifest.get("source_checkpoint")
    if not isinstance(source, dict) or not {"path", "sha256"} <= set(source):
        raise ArtifactError(f"{path} names no source_checkpoint {{path, sha256}}")
    for entry in manifest["artifacts"]:
        if not isinstance(entry, dict) or not {"format", "path", "sha256"} <= set(entry):
            raise ArtifactError(f"{path} has an artifact entry without format, path and sha256")
        if entry["format"] not in FORMATS:
            raise ArtifactError(
                f"unknown artifact format {entry['format']!r} in {path} "
                f"(known: {', '.join(FORMATS)})"
            )
    return manifest


def check_artifacts(export_dir: Path, manifest: dict[str, Any]) -> None:
    """Re-hash every artifact and compare with the manifest; the first mismatch raises."""
    for entry in manifest["artifacts"]:
        path = resolve_inside(export_dir, entry["path"])
        if not path.is_file():
            raise ArtifactError(f"{entry['format']} artifact missing: {path}")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise ArtifactError(
                f"{entry['format']} artifact {path} does not match its manifest sha256 "
                f"(truncated or tampered: {actual[:12]}... != {str(entry['sha256'])[:12]}...)"
            )


def artifact_entry(manifest: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The manifest entry of one format, or an error naming what the folder holds."""
    if fmt not in FORMATS:
        raise ArtifactError(f"unknown artifact format {fmt!r} (known: {', '.join(FORMATS)})")
    for entry in manifest["artifacts"]:
        if entry["format"] == fmt:
            return entry
    held = ", ".join(e["format"] for e in manifest["artifacts"]) or "none"
    raise ArtifactError(f"the export folder holds no {fmt} artifact (it holds: {held})")
