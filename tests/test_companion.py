"""The host-state reference's companion process: clean, in lockstep, and never a hang."""
from __future__ import annotations

import pytest

from bench.engine.companion import (Companion, CompanionError, CompanionReference, companion_environment)
from bench.engine.timing import QUICK_TIMING


def test_the_companion_starts_clean_whatever_the_measured_process_set(monkeypatch) -> None:
    # the measured process's own state (a plug-in's switch, an allocator setting, its paths)
    # must not reach the reference: it is part of what is measured
    monkeypatch.setenv("LINREG_REGRESS", "gil")
    monkeypatch.setenv("MALLOC_PERTURB_", "165")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/plugins")
    env = companion_environment()
    assert "LINREG_REGRESS" not in env and "MALLOC_PERTURB_" not in env
    assert env["OMP_NUM_THREADS"] == "1" and env["MALLOC_MMAP_MAX_"] == "0"
    assert "/somewhere/plugins" not in env["PYTHONPATH"]


def test_one_reference_block_per_workload_block_in_lockstep() -> None:
    ref = CompanionReference("dispatch", 1, QUICK_TIMING)
    for _ in range(5):
        ref.sample()  # returns only once the companion has timed its block
    record = ref.record([3.0 * t for t in ref.times_s])
    assert len(record["times_s"]) == 5 and record["ratio"] == pytest.approx(3.0)
    assert record["where"] == "companion process" and record["calls_per_sample"] >= 1


def test_every_draw_rebuilds_the_reference_at_a_new_layout() -> None:
    # one companion serves a worker's draws; each draw's reference is built again after a spacer
    # of random size, so a run averages layouts instead of keeping its processes' few
    records, companions = [], set()
    for _ in range(4):
        ref = CompanionReference("stream", 1, QUICK_TIMING)
        ref.sample()
        records.append(ref.record(ref.times_s))
        companions.add(ref.companion.proc.pid)
    assert len(companions) == 1  # the same process: the layout is redrawn, not the companion
    spacers = [r["layout_spacer_bytes"] for r in records]
    assert all(isinstance(b, int) and 0 <= b < 4 << 20 for b in spacers)
    assert len(set(spacers)) > 1, spacers  # 4 draws from 2^20 sizes: equal only by a 1e-6 chance


def test_the_layout_spacer_is_a_random_untouched_allocation() -> None:
    from bench.engine.layout import SPACER_MAX_FLOATS, layout_spacer

    sizes = [layout_spacer().numel() for _ in range(4)]
    assert all(0 <= n < SPACER_MAX_FLOATS for n in sizes) and len(set(sizes)) > 1, sizes


def test_a_bad_request_or_a_dead_companion_is_an_error_not_a_hang() -> None:
    companion = Companion()
    with pytest.raises(CompanionError, match="unknown reference kind .no-such-kind."):
        companion.use("no-such-kind", 1, {"warmup_calls": 1, "warmup_s": 0.0, "min_sample_s": 0.0001})
    with pytest.raises(CompanionError, match="block before use"):
        companion.block()
    companion.proc.kill()
    companion.proc.wait()
    with pytest.raises(CompanionError, match="exited"):
        companion.block()


def test_the_worker_is_stopped_whole_while_the_reference_runs() -> None:
    # a process-wide effect (a thread that spins in the measured process) must not take the
    # CPU from the reference: the companion stops its parent, every thread of it, for the block
    import os
    import subprocess
    import sys
    import time

    from bench.engine.affinity import all_stopped, worker_stopped

    spin = ("import threading, time\ndef spin():\n    while True:\n        pass\n"
            "threading.Thread(target=spin, daemon=True).start()\n")
    child = subprocess.Popen([sys.executable, "-c", spin + "while True: time.sleep(0.001)"])
    try:
        time.sleep(0.5)  # its spinning thread is up
        assert len(os.listdir(f"/proc/{child.pid}/task")) >= 2
        with worker_stopped(child.pid):
            assert all_stopped(child.pid)  # every thread, the spinning one too
        assert not all_stopped(child.pid)  # and continued after it
    finally:
        child.kill()
        child.wait()
    with worker_stopped(2**22 + 12345):  # a pid that is not there: the block is timed anyway
        pass
    assert os.getpid() > 0


def test_each_reference_block_runs_on_the_cpu_the_workload_last_ran_on() -> None:
    import os

    from bench.engine.affinity import last_cpu

    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs 2 or more CPUs to follow one")
    assert last_cpu(os.getpid()) in allowed and last_cpu(2**22 + 12345) is None
    ref = CompanionReference("dispatch", 1, QUICK_TIMING)
    try:
        for cpu in (allowed[-1], allowed[0]):
            os.sched_setaffinity(0, {cpu})  # the "workload" (this thread) runs on `cpu` only
            ref.sample()
            assert ref.cpus == {allowed[-1]} | ({cpu} if cpu != allowed[-1] else set())
            assert os.sched_getaffinity(ref.companion.proc.pid) == {cpu}  # the companion followed
    finally:
        os.sched_setaffinity(0, set(allowed))
    assert ref.record([1e-6, 1e-6])["cpus"] == [allowed[0], allowed[-1]]
