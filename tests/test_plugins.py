"""Third-party runtimes: the example numpy plug-in is installed into a temporary folder and benched
like a built-in one (parity, timing, results, report, compare); a broken plug-in is a skip record."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import pip_install_target

from bench.cli import main

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip install --target of the numpy example and the broken plug-in, offline, no dependencies."""
    pytest.importorskip("setuptools", reason="building the example plug-in needs setuptools in the venv")
    work = tmp_path_factory.mktemp("plugins")
    sources = [shutil.copytree(PLUGINS / name, work / "src" / name)  # builds leave nothing in tests/
               for name in ("numpy_runtime", "broken_runtime")]
    return pip_install_target(list(sources), work / "site")


@pytest.fixture
def installed(plugin_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The plug-ins on this process's path and on the workers' PYTHONPATH."""
    import os

    import bench.runtimes

    monkeypatch.syspath_prepend(str(plugin_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(plugin_path),
                                                                    os.environ.get("PYTHONPATH")])))
    bench.runtimes.reload_plugins()
    yield bench.runtimes
    monkeypatch.undo()
    bench.runtimes.reload_plugins()


def test_the_registry_sees_the_plugins(installed) -> None:
    entry = installed.runtime_entry("numpy")
    assert entry.source.startswith("plug-in linreg-numpy-runtime") and entry.artifact == "checkpoint"
    assert "numpy" in installed.runtime_names() and "numpy" not in installed.INFERENCE_RUNTIMES
    reason = installed.unavailable_reason("broken")
    assert "linreg-broken-runtime" in reason and "NoSuchRuntime" in reason


def test_a_plugin_is_benched_like_a_builtin(installed, exported: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["bench", "--smoke", "--export-dir", str(exported),
                 "--out", str(out), "--runtimes", "numpy", "broken", "--variants", "fused"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    numpy = [e for e in results["measurements"] if e["runtime"] == "numpy"]
    assert numpy and all(e["parity"]["passed"] and e["parity"]["tolerance"] == "bit-exact"
                         and e["times_s"] for e in numpy if e["device"] == "cpu")
    broken = [e for e in results["measurements"] if e["runtime"] == "broken"]
    assert broken and all("NoSuchRuntime" in e["skip_reason"] for e in broken if e["device"] == "cpu")
    assert "| numpy | cpu |" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["compare", str(out / "results.json"), str(out / "results.json"), "--json"]) == 0
    rows = {r["label"]: r["verdict"] for r in json.loads(capsys.readouterr().out)["measurements"]}
    # a file against itself: ratio 1; "unchanged" only where its few draws' interval shows +/-10%
    assert rows["inference/numpy/cpu/1"] in ("unchanged", "unresolved")


def test_loadgen_runs_a_plugin_and_records_a_broken_one_as_failed(installed, exported: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mlperf_loadgen")
    out = tmp_path / "lg"
    code = main(["loadgen", "--export-dir", str(exported), "--runtime", "numpy", "--scenario",
                 "single-stream", "--duration-s", "0.3", "--out", str(out)])
    doc = json.loads((out / "loadgen.json").read_text())
    assert doc["runtime"] == "numpy" and doc["accuracy"]["checked"] > 0 and doc["accuracy"]["passed"]
    assert code == (0 if doc["valid"] else 1)
    from bench.runtimes.base import Artifacts
    from bench.scenarios.loadgen import run_test
    from bench.scenarios.settings import LoadgenConfig

    broken = run_test(LoadgenConfig("single-stream", "broken", duration_s=0.2),
                      Artifacts.from_export_dir(exported), tmp_path / "broken")
    assert broken["valid"] is False and "NoSuchRuntime" in broken["failed"]
