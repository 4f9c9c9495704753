"""Helpers shared by test modules (fixtures live in conftest.py)."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest


def copy_export(exported: Path, dest: Path) -> Path:
    """A private copy of checkpoint + export folder, same layout, so tests may damage it."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(exported.parent / "model.pth", dest / "model.pth")
    shutil.copytree(exported, dest / "export")
    return dest / "export"


def bench_args(tmp_path: Path, toml: str, *argv: str) -> "argparse.Namespace":
    """`bench` parsed as the CLI does with a --config file holding `toml`, then `argv`."""
    from bench.cli import build_parser
    from bench.settings import reparse_with_config

    cfg = tmp_path / "bench.toml"
    cfg.write_text(toml)
    full = ["bench", "--out", str(tmp_path / "o"), "--export-dir", str(tmp_path), "--config", str(cfg), *argv]
    parser = build_parser()
    return reparse_with_config(parser, parser.parse_args(full), full)


def one_error_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """The command's stderr is exactly one `error:` line, no traceback, holding every word."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def pip_install_target(sources: "list[Path]", target: Path) -> Path:
    """Install plug-in source folders into `target` (pip --target, no index, no deps): the one way
    the tests put a plug-in on a path without touching the venv."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
         *map(str, sources)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return target
