"""The regress plug-in (tests/plugins/regress_runtime): installed and found like any plug-in, bit-exact,
and each LINREG_REGRESS kind really switches its change on and off. Work is counted, never timed:
the sizes of the changes are measured by tests/benchmarks/measure_regressions.py."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import pip_install_target
import torch

PLUGINS = Path(__file__).parent / "plugins"
ROOT = Path(__file__).resolve().parent.parent

BROKEN_VARIANT_TOML = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "linreg-broken-variant"
version = "0.1.0"

[project.entry-points."linreg_bench.variants"]
broken_variant = "linreg_broken_variant:NoSuchLoop"

[tool.setuptools]
packages = ["linreg_broken_variant"]
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip install --target of the regress plug-in and a variant plug-in that names no class."""
    pytest.importorskip("setuptools", reason="building the plug-ins needs setuptools in the venv")
    work = tmp_path_factory.mktemp("regress")
    regress = shutil.copytree(PLUGINS / "regress_runtime", work / "src" / "regress_runtime")
    broken = work / "src" / "broken_variant"
    (broken / "linreg_broken_variant").mkdir(parents=True)
    (broken / "linreg_broken_variant" / "__init__.py").write_text('"""Declares a loop it does not define."""\n')
    (broken / "pyproject.toml").write_text(BROKEN_VARIANT_TOML)
    return pip_install_target([regress, broken], work / "site")


@pytest.fixture
def installed(plugin_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The plug-ins on this process's path (both registries looked up again)."""
    import bench.runtimes
    import bench.training

    monkeypatch.syspath_prepend(str(plugin_path))
    bench.runtimes.reload_plugins()
    bench.training.reload_plugins()
    yield plugin_path
    monkeypatch.undo()
    bench.runtimes.reload_plugins()
    bench.training.reload_plugins()


def _env(plugin_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LINREG_REGRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_path), str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def test_the_registries_see_the_runtime_and_the_variant(installed: Path) -> None:
    from bench.runtimes import runtime_entry
    from bench.training import variant_entry, variant_names, variant_skip_reason

    assert runtime_entry("regress").source.startswith("plug-in linreg-regress-runtime")
    entry = variant_entry("regress")
    assert entry.source.startswith("plug-in linreg-regress-runtime") and entry.broken is None
    assert entry.parity_atol is None and not entry.compiled and not entry.needs_cuda
    assert variant_skip_reason("regress", "cpu") is None
    names = variant_names()
    assert names[:4] == ("eager", "fused", "torch_compile", "cuda_graph") and "regress" in names
    reason = variant_skip_reason("broken_variant", "cpu")
    assert reason and "linreg-broken-variant" in reason and "NoSuchLoop" in reason


def test_a_broken_variant_plugin_leaves_the_builtins_alone(installed: Path) -> None:
    from bench.training import make_loop, variant_entry
    from bench.training.loops import make_train_data

    X, y = make_train_data(40, "cpu")
    make_loop("eager", X, y, "cpu").step()
    assert variant_entry("fused").broken is None
    with pytest.raises(ValueError, match="NoSuchLoop"):
        make_loop("broken_variant", X, y, "cpu")


def test_installed_variants_join_the_variants_bench_accepts(plugin_path: Path) -> None:
    """Installed variants are accepted by name (variant_names) but do not join the default set
    (TRAINING_VARIANTS, the built-in ones), as for runtimes: a fresh process with the plug-ins."""
    code = "import bench.training as t, bench.suite as s; print(list(t.variant_names())); " \
           "assert t.TRAINING_VARIANTS == tuple(t.VARIANTS); " \
           "s.SuiteConfig(devices=('cpu',), variants=('regress', 'broken_variant'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=_env(plugin_path), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().replace("'", '"')) == [
        "eager", "fused", "torch_compile", "cuda_graph", "broken_variant", "regress"]


@pytest.mark.slow  # 8 s; its parts stay in the default suite: the plug-in's bit-exactness (below), a
                  # broken variant in the registry (above), a plug-in benched end to end (test_plugins)
def test_bench_runs_the_plugin_and_records_the_broken_variant(plugin_path: Path, exported: Path,
                                                             tmp_path: Path) -> None:
    """`bench` end to end in a fresh process (variants are found at import): parity, times, skips."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "bench", "--smoke", "--export-dir", str(exported), "--out", str(out),
         "--devices", "cpu", "--runtimes", "regress", "--variants", "eager", "regress", "broken_variant"],
        capture_output=True, text=True, timeout=600, env=_env(plugin_path), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((out / "results.json").read_text())["measurements"]
    mine = [r for r in rows if r["runtime"] == "regress"]
    assert {r["phase"] for r in mine} == {"inference", "train_epoch"}
    assert all(r["times_s"] and r["parity"]["passed"] and r["parity"]["tolerance"] == "bit-exact"
               for r in mine), mine
    assert [r for r in rows if r["runtime"] == "eager" and r["times_s"]]
    broken = [r for r in rows if r["runtime"] == "broken_variant"]
    assert broken and all("NoSuchLoop" in r["skip_reason"] for r in broken)


def test_the_runtime_is_bit_exact_whatever_the_kind(installed: Path, checkpoint: Path) -> None:
    from bench.runtimes.base import Artifacts, make_input
    from linreg.checkpoint import load_model
    from linreg_regress_runtime import KINDS, RegressRuntime, effect

    _, model = load_model(checkpoint, "cpu")
    runtime = RegressRuntime()
    runtime.load(Artifacts(checkpoint), "cpu", 1)
    for size in (1, 1000):
        x = make_input(size)
        with torch.no_grad():
            expected = model(x)
        for kind in (None, *KINDS):
            eff = effect(kind)
            bound = runtime.bind(x, effect=eff)
            eff.on()
            try:
                got = bound.output()
            finally:
                eff.close()
            diff = (got - expected).abs().max().item()
            assert torch.equal(got, expected), f"kind {kind}, batch {size}: max_abs_error {diff}"


def test_the_variant_is_bit_exact_with_the_eager_loop(installed: Path) -> None:
    from bench.training.measure import run_epochs

    eager = torch.cat(run_epochs("eager", 40, "cpu", 10))
    regress = torch.cat(run_epochs("regress", 40, "cpu", 10))
    assert torch.equal(eager, regress), f"max_abs_error {(eager - regress).abs().max().item()}"


class OpCounter(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the aten ops a call runs: work, not time."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def _ops(call) -> list[str]:  # noqa: ANN001
    with OpCounter() as counter:
        call()
    return counter.ops


@pytest.mark.parametrize("phase", ["inference", "train_epoch"])
def test_the_per_call_kinds_change_the_work_of_a_call(installed: Path, checkpoint: Path, phase: str) -> None:
    from bench.runtimes.base import Artifacts, make_input
    from bench.training.loops import make_train_data
    from linreg_regress_runtime import RegressLoop, RegressRuntime, effect

    def make(eff):  # noqa: ANN001, ANN202
        if phase == "inference":
            runtime = RegressRuntime()
            runtime.load(Artifacts(checkpoint), "cpu", 1)
            return runtime.bind(make_input(10), effect=eff).call
        return RegressLoop(*make_train_data(40, "cpu"), "cpu", effect=eff).step

    base = effect(None)
    baseline = _ops(make(base))
    for kind in ("memory", "speedup", "python"):
        eff = effect(kind)
        call = make(eff)
        assert _ops(call) == baseline, kind          # off: the unset state's work, exactly
        eff.on()
        ops = _ops(call)
        eff.off()
        if kind == "memory":
            assert len(ops) == len(baseline) + 1 and ops[-1] == "aten.mul_", ops
        elif kind == "speedup":
            assert len(ops) < len(baseline), (ops, baseline)
        else:
            assert ops == baseline and eff.spins == 1  # pure Python: no aten op, one spin
            call()
            assert eff.spins == 1                    # off again: no spin


def _regress_threads(kind: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"linreg-regress-{kind}")]


def _wait_for(condition, seconds: float = 30.0) -> bool:  # noqa: ANN001
    """Progress, not speed: poll until condition() holds (a generous bound for a busy CI host)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


@pytest.mark.parametrize("kind", ["gil", "threads"])
def test_the_thread_kinds_park_and_resume_the_same_threads(installed: Path, kind: str) -> None:
    from linreg_regress_runtime import effect

    eff = effect(kind)
    assert eff.process_wide and not _regress_threads(kind)
    eff.on()
    try:
        running = _regress_threads(kind)
        assert running and all(t.is_alive() and t.daemon for t in running)
        assert len(running) == (1 if kind == "gil" else len(os.sched_getaffinity(0)))
        assert _wait_for(lambda: eff.cycles >= 2 * len(running)), "the threads never worked"
        eff.off()  # parked: alive, and no cycle runs until on() again
        parked = eff.cycles
        assert eff._working == 0 and all(t.is_alive() for t in running)
        time.sleep(0.02)
        assert eff.cycles == parked
        eff.on()   # a truth measurement switches it 120 times: the same threads resume
        assert _regress_threads(kind) == running
        assert _wait_for(lambda: eff.cycles > parked), "the threads did not resume"
        if kind == "threads":  # one pinned to each usable CPU
            pinned = [os.sched_getaffinity(t.native_id) for t in running]
            assert pinned == [{cpu} for cpu in sorted(os.sched_getaffinity(0))]
    finally:
        eff.close()
    assert not _regress_threads(kind) and not any(t.is_alive() for t in running)


def test_the_allocator_kind_switches_glibc_and_back(installed: Path) -> None:
    from linreg_regress_runtime import effect

    eff = effect("allocator")
    eff.on()
    try:
        assert eff.result == 1 and eff.active
        torch.ones(1 << 18).clone()  # a block the setting reaches
    finally:
        eff.off()
    assert eff.result == 1 and not eff.active


def test_the_kind_comes_from_the_environment_at_load(plugin_path: Path, checkpoint: Path) -> None:
    code = ("import threading; from linreg_regress_runtime import RegressRuntime, active; "
            "from bench.runtimes.base import Artifacts; "
            f"RegressRuntime().load(Artifacts({str(checkpoint)!r}), 'cpu', 1); "
            "print(active().kind, sorted({t.name.rsplit('-', 1)[0] for t in threading.enumerate()}))")
    # both processes side by side (each imports torch: seconds), then each checked
    gil, nonsense = (subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=_env(plugin_path, LINREG_REGRESS=kind), cwd=ROOT)
                     for kind in ("gil", "nonsense"))
    out, err = gil.communicate(timeout=120)
    assert gil.returncode == 0, err[-2000:]
    assert out.startswith("gil") and "linreg-regress-gil" in out
    out, err = nonsense.communicate(timeout=120)
    assert nonsense.returncode != 0 and "none of python, memory" in err
