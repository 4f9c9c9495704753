"""Helpers shared by test modules (fixtures live in conftest.py)."""
from __future__ import annotations

import shutil
from pathlib import Path


def copy_export(exported: Path, dest: Path) -> Path:
    """A private copy of checkpoint + export folder, same layout, so tests may damage it."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(exported.parent / "model.pth", dest / "model.pth")
    shutil.copytree(exported, dest / "export")
    return dest / "export"
