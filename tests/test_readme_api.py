"""The README's Python API script runs as written; the packages name their API in __all__."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_script() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.parametrize("package", ["linreg", "export", "bench"])
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ and all(getattr(module, name) is not None for name in module.__all__)


def test_import_bench_loads_nothing_heavy() -> None:
    code = "import sys, bench, export, linreg; print(sorted(m for m in ('torch', 'matplotlib', 'onnxruntime') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.slow
def test_the_readme_script_trains_exports_benches_and_compares(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", readme_script()], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gate: median:10%" in done.stdout and "regressions:" in done.stdout
    # no library chatter (ORT warned "Removing initializer 'a'" 16 times) and no wrong reason
    assert "onnxruntime:" not in done.stderr and "(--quick skips it)" not in done.stderr, done.stderr[-3000:]
    for run in ("a", "b"):
        assert (tmp_path / "runs" / "api" / run / "report.md").is_file()
