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

    from bench.engine.companion import _all_stopped, worker_stopped

    spin = ("import threading, time\ndef spin():\n    while True:\n        pass\n"
            "threading.Thread(target=spin, daemon=True).start()\n")
    child = subprocess.Popen([sys.executable, "-c", spin + "while True: time.sleep(0.001)"])
    try:
        time.sleep(0.5)  # its spinning thread is up
        assert len(os.listdir(f"/proc/{child.pid}/task")) >= 2
        with worker_stopped(child.pid):
            assert _all_stopped(child.pid)  # every thread, the spinning one too
        assert not _all_stopped(child.pid)  # and continued after it
    finally:
        child.kill()
        child.wait()
    with worker_stopped(2**22 + 12345):  # a pid that is not there: the block is timed anyway
        pass
    assert os.getpid() > 0


def test_a_single_threaded_worker_and_its_companion_share_one_cpu() -> None:
    import json
    import os
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 or more CPUs to pin one")
    code = ("import os, json\nfrom bench.engine import affinity\nfrom bench.engine.companion import Companion\n"
            "c = Companion()\nprint(json.dumps(affinity.pin_with(c.proc.pid)))\n"
            "affinity.pin_at_first_measurement(2)\nprint(json.dumps(affinity.pin_with(c.proc.pid)))\n"
            "affinity.pin_at_first_measurement(1)\nprint(json.dumps(affinity.pin_with(c.proc.pid)))\n"
            "print(json.dumps([sorted(os.sched_getaffinity(p)) for p in (0, c.proc.pid)]))\nc.close()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    top = max(os.sched_getaffinity(0))
    assert lines[:3] == [None, None, [top]]  # not asked; a pool of 2 is left alone; 1 thread: one CPU
    assert lines[3] == [[top], [top]]          # the worker and its companion both


def test_the_reference_record_names_the_cpus_it_ran_on() -> None:
    import os

    ref = CompanionReference("dispatch", 1, QUICK_TIMING)
    ref.sample()
    assert ref.record([1e-6])["cpus"] == sorted(os.sched_getaffinity(0))
