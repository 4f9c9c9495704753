"""What every measurement record (results/<series>/README.md) says about where it was made."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def short_commit() -> str:
    """This checkout's HEAD, abbreviated ("unknown" outside git)."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() or "unknown"


def machine() -> str:
    """The one machine line of every record: CPU model, architecture, CPUs, platform."""
    from linreg.environment import cpu_model
    return f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"


def train_and_export(folder: Path) -> Path:
    """FOLDER/train/model.pth and FOLDER/export, each made once by the CLI (kept when there); the export folder."""
    cli = [sys.executable, "-m", "bench"]
    if not (folder / "train" / "model.pth").exists():
        subprocess.run([*cli, "train", "--out", str(folder / "train")], check=True, capture_output=True, cwd=ROOT)
    if not (folder / "export" / "manifest.json").exists():
        subprocess.run([*cli, "export", "--checkpoint", str(folder / "train" / "model.pth"),
                        "--out", str(folder / "export")], check=True, capture_output=True, cwd=ROOT)
    return folder / "export"


def timed(cmd: list[str], cwd: Path, log: Path) -> dict[str, object]:
    """Run `cmd` in `cwd` with its output in `log`: wall seconds, exit code, load before and after."""
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    with log.open("w") as f:
        rc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT).returncode
    return {"command": " ".join(cmd), "wall_s": round(time.monotonic() - t0, 1), "rc": rc,
            "load_1m": [round(load, 2), round(os.getloadavg()[0], 2)]}
