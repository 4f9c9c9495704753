"""An interrupt during run's LoadGen pass keeps every finished measurement; no child outlives us."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import bench.pipeline
from bench.cli import main
from bench.scenarios import run_pass
from linreg.lifetime import remove_stale_scratch

RUN = ["run", "--smoke", "--runtimes", "eager", "torchscript", "--variants", "eager", "--devices", "cpu"]
ROOT = Path(__file__).resolve().parents[1]


def test_an_interrupt_in_the_loadgen_pass_writes_what_finished(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []

    def one_then_interrupt(config, artifacts, out_dir, memory_gib=None):  # noqa: ANN001, ANN202
        if done:
            raise KeyboardInterrupt
        done.append(config.runtime)
        return {"runtime": config.runtime, "valid": True, "latency_s": {"p99": 2e-5}, "qps": 5e4}
    monkeypatch.setattr(bench.pipeline, "SMOKE_LOADGEN_SKIP", 0.5)  # --smoke with a LoadGen pass
    monkeypatch.setattr(run_pass, "run_child", one_then_interrupt)
    out = tmp_path / "cut"
    assert main([*RUN, "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: interrupted"
    results = json.loads((out / "results.json").read_text())
    assert results["partial"] is True and "LoadGen pass" in results["partial_reason"]
    assert [r["runtime"] for r in results["loadgen"]["runs"]] == ["eager"]
    assert "after 1 of 2 runtimes" in results["loadgen"]["interrupted"]
    timed = {m["runtime"] for m in results["measurements"] if "times_s" in m}
    assert {"eager", "torchscript"} <= timed  # the suite's measurements, all kept
    assert (out / "report.md").is_file()


def test_a_child_dies_with_its_parent_even_on_kill_9(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: kill -9 of the parent ends the child (no process under PID 1)."""
    pid_file = tmp_path / "child.pid"
    child = f"from linreg.lifetime import die_with_parent; import os, time; die_with_parent(); " \
            f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    parent = textwrap.dedent(f"""
        import subprocess, sys, time
        from linreg.lifetime import child_environment
        subprocess.Popen([sys.executable, "-c", {child!r}], env=child_environment())
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while _alive(child_pid):
        assert time.monotonic() < deadline, f"child {child_pid} outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_scratch_of_a_dead_run_is_swept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f"loadgen-{dead}-abc123").mkdir()
    (tmp_path / f"loadgen-{os.getppid()}-live01").mkdir()   # a live process's: kept
    (tmp_path / "loadgen-notapid").mkdir()                    # not our pattern: kept
    removed = remove_stale_scratch("loadgen", tmp_path)
    assert [p.name for p in removed] == [f"loadgen-{dead}-abc123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"loadgen-{os.getppid()}-live01", "loadgen-notapid"]


SCRIPT = """
import sys
import bench.pipeline
bench.pipeline.SMOKE_LOADGEN_SKIP = float(sys.argv[1])  # --smoke with a real LoadGen pass
from bench.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_real_signal_in_the_loadgen_pass(sig: int, tmp_path: Path) -> None:
    """The signal reaches the parent alone (as `kill` sends it): exit 130, one error line, the
    finished LoadGen run kept, the running child ended, its scratch folder removed."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "1.0", *RUN, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = out / "loadgen" / "torchscript"
    deadline = time.monotonic() + 240
    while not second.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)  # the second child is importing or measuring
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted" and "Traceback" not in err, err
    results = json.loads((out / "results.json").read_text())
    assert results["partial"] is True and [r["runtime"] for r in results["loadgen"]["runs"]] == ["eager"]
    assert ("SIGTERM" in results["partial_reason"]) == (sig == signal.SIGTERM), results["partial_reason"]
    assert (out / "report.md").is_file()
    assert not list(Path("/tmp").glob(f"loadgen-{proc.pid}-*"))
    orphans = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _alive(int(p.name))
               and f"loadgen-{proc.pid}-".encode() in _cmdline(p)]
    assert not orphans


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_sweep_workers_never_outlive_the_sweep(sig: int, tmp_path: Path) -> None:
    """SIGTERM (exit 130, one error line, finished trials kept) or kill -9 of `sweep` mid-run:
    no pool worker is left running under PID 1."""
    config = tmp_path / "long-sweep.toml"
    config.write_text("[grid]\nlr = [0.01, 0.02, 0.03, 0.04]\n[fixed]\nepochs = 300000\n")
    proc = subprocess.Popen([sys.executable, "-m", "bench", "sweep", "--config", str(config),
                             "--out", str(tmp_path / "out"), "--jobs", "2"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_with_arg(str(config))) < 3:  # the sweep and its two workers
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted", err
        assert "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while _with_arg(str(config)):
        assert time.monotonic() < deadline, f"orphans: {_with_arg(str(config))}"
        time.sleep(0.1)


def _with_arg(arg: str) -> list[int]:
    """Live processes with `arg` on their command line."""
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and _alive(int(p.name)) and arg.encode() in _cmdline(p)]


def test_ctrl_c_while_importing_is_one_line() -> None:
    """Ctrl-C (SIGINT to the process group) while the command imports torch: exit 130 and one
    `error: interrupted` line; interrupted midway, an import used to print a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "compare", "a.json", "b.json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while b"libtorch" not in _maps(proc.pid):  # torch's import has begun: inside bench.cli's imports
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines() == ["error: interrupted"], err


def _maps(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/maps").read_bytes()
    except OSError:
        return b""


def test_an_interrupt_swallowed_by_a_finalizer_is_delivered_again() -> None:
    """Python ignores KeyboardInterrupt raised inside a weakref callback or __del__ ('Exception
    ignored in ...'), and a run went on to the end; the CLI's unraisablehook re-sends the signal."""
    import types

    from bench.cli import _redeliver_swallowed_interrupts
    from bench.engine.interrupt import Terminated

    got: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for count, exc in enumerate((KeyboardInterrupt(), Terminated()), start=1):
            _redeliver_swallowed_interrupts(types.SimpleNamespace(exc_value=exc))
            deadline = time.monotonic() + 5
            while len(got) < count and time.monotonic() < deadline:
                time.sleep(0.01)  # the signal comes a moment later, from another thread
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert got == [signal.SIGINT, signal.SIGTERM]
