"""Hostile export folders, built the way an attacker would: from a real export, re-hashed."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import torch

from export.manifest import sha256_file


class MarkerPayload:
    """Unpickles (weights_only=False) into `tensor`, after writing `marker`: proof that code ran."""

    def __init__(self, marker: Path, tensor: torch.Tensor) -> None:
        self.marker, self.values = str(marker), tensor.detach().tolist()

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        code = (f"(__import__('pathlib').Path({self.marker!r}).write_text('code ran'), "
                f"__import__('torch').nn.Parameter(__import__('torch').tensor({self.values!r})))[1]")
        return (eval, (code,))


def rewrite_pt2(path: Path, edit) -> None:  # noqa: ANN001 - edit(name, bytes) -> bytes | None
    """Rewrite every entry of a zip through edit(name, data); None drops the entry."""
    with zipfile.ZipFile(path) as zf:
        items = [(i.filename, zf.read(i)) for i in zf.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in items:
            new = edit(name, data)
            if new is not None:
                zf.writestr(name, new)
    path.write_bytes(buffer.getvalue())


def rehash(export_dir: Path) -> None:
    """Make manifest.json match the tampered artifacts: the attacker hands over both."""
    manifest_path = export_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["artifacts"]:
        entry["sha256"] = sha256_file(export_dir / entry["path"])
    manifest_path.write_text(json.dumps(manifest, indent=2))


def make_pickled_weights_pt2(export_dir: Path, marker: Path) -> Path:
    """The issue's attack: use_pickle true for `weights`, its file a code-running pickle."""
    pt2 = export_dir / "model.pt2"

    def edit(name: str, data: bytes) -> bytes:
        if name.endswith("data/weights/model_weights_config.json"):
            config = json.loads(data)
            config["config"]["weights"]["use_pickle"] = True
            return json.dumps(config).encode()
        if name.endswith("data/weights/weight_0"):
            original = torch.frombuffer(bytearray(data), dtype=torch.float32).clone()
            buffer = io.BytesIO()
            torch.save(MarkerPayload(marker, original), buffer)
            return buffer.getvalue()
        return data

    rewrite_pt2(pt2, edit)
    rehash(export_dir)
    return pt2


def loading_commands(runtime: str) -> list[list[str]]:
    """verify, predict and bench over the export folder {d} (bench writes to {o}), loading `runtime`."""
    return [
        ["verify", "--export-dir", "{d}"],
        ["predict", "--export-dir", "{d}", "--runtime", runtime, "1.0"],
        ["bench", "--export-dir", "{d}", "--out", "{o}", "--runtimes", runtime,
         "--variants", "fused", "--devices", "cpu", "--smoke", "--isolation", "none"],
    ]
