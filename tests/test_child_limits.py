"""Every child process runs under a memory bound (linreg/limits.py): exceeding it is one line naming it."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.suite import SuiteConfig, SuiteError
from bench.worker import checked_final, failure_line
from linreg.limits import (MEMORY_ENV, bound_text, check_memory_gib, child_memory_environment,
                           default_child_memory_gib, is_out_of_memory, physical_memory_gib)

ROOT = Path(__file__).resolve().parents[1]
# A child that applies its parent's bound, then asks for 1 GiB more than it allows (nothing is touched:
# the request itself fails).
GREEDY = ("from linreg.limits import apply_from_environment as a; g = a(); "
          "b = bytearray(int((g + 1) * 2**30))")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA bounds mmap on Linux")
def test_a_child_past_its_bound_gets_a_memory_error_not_the_memory() -> None:
    env = child_memory_environment(0.5)
    done = subprocess.run([sys.executable, "-c", GREEDY], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "MemoryError" in done.stderr
    unbounded = subprocess.run([sys.executable, "-c", "from linreg.limits import apply_from_environment as a; "
                                "print(a())"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                               env={k: v for k, v in env.items() if k != MEMORY_ENV})
    assert unbounded.stdout.strip() == "None"  # no variable: no bound applied, none claimed


def test_a_worker_that_runs_out_names_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "2")
    line = failure_line(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't "
                                     "allocate memory: you tried to allocate 4000000000 bytes"))
    assert line.startswith("out of memory under its memory bound of 2 GiB (RLIMIT_DATA")
    assert "\n" not in line
    assert failure_line(ValueError("bad")) == "ValueError: bad"
    native_abort = "exit code -6: terminate called; it may have run into its memory bound of 2 GiB"
    with pytest.raises(RuntimeError, match=native_abort):
        checked_final({"task": "inference", "runtime": "onnxruntime"}, None, -6, "terminate called", 2.0)


@pytest.mark.parametrize("exc, oom", [(MemoryError(), True), (RuntimeError("std::bad_alloc"), True),
                                      (RuntimeError("Failed to allocate memory for requested buffer"), True),
                                      (ValueError("shape mismatch"), False)])
def test_allocation_failures_are_recognised(exc: BaseException, oom: bool) -> None:
    assert is_out_of_memory(exc) is oom


@pytest.mark.parametrize("value", [0, 0.1, -1, math.nan, math.inf, 10**9, True, "8"])
def test_bounds_outside_half_a_gib_to_this_machine_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="child_memory_gib"):
        check_memory_gib(value)
    with pytest.raises(SuiteError):
        SuiteConfig(child_memory_gib=value)  # type: ignore[arg-type]


def test_the_bound_is_recorded_in_the_config() -> None:
    config = SuiteConfig().to_json()
    assert config["child_memory_gib"] == default_child_memory_gib() <= physical_memory_gib()
    assert config["worker_timeout_s"] == 900.0
    assert "8 GiB" in bound_text(8.0) or default_child_memory_gib() < 8


@pytest.mark.slow
def test_bench_past_its_bound_is_one_line_naming_it(exported: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """10^8 rows (381 MiB an array) under a 0.5 GiB bound: the floors' worker cannot allocate;
    the run ends in one line naming the bound (the allocation is refused, never made)."""
    from bench.cli import main

    argv = ["bench", "--export-dir", str(exported), "--out", str(tmp_path / "o"), "--runtimes", "eager",
            "--variants", "fused", "--devices", "cpu", "--smoke", "--isolation", "runtime",
            "--batch-sizes", "100000000", "--train-sizes", "40", "--child-memory-gib", "0.5"]
    assert main(argv) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error", "Traceback"))]
    assert len(err) == 1 and "memory bound of 0.5 GiB (RLIMIT_DATA" in err[0], err


def test_a_sweep_with_no_trial_finishing_in_time_stops_in_one_line() -> None:
    import multiprocessing

    from bench.experiments.runner import SweepTimeout, _bounded

    class Stuck:  # an imap iterator whose next trial never comes
        def next(self, timeout: float) -> None:
            raise multiprocessing.TimeoutError

    with pytest.raises(SweepTimeout, match="no trial finished within 5 s .--trial-timeout-s."):
        next(_bounded(Stuck(), 5.0))


def test_ddp_ranks_have_a_recorded_memory_bound() -> None:
    from bench.distributed.config import DdpConfig, DdpInputError

    assert DdpConfig().to_json()["rank_memory_gib"] == default_child_memory_gib()
    with pytest.raises(DdpInputError, match="--rank-memory-gib"):
        DdpConfig(rank_memory_gib=0.1)
