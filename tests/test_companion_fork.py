"""A forked worker's companion is a fork of it, made before the job runs anything: the same clean
reference process as a fresh one, its parent the worker; one started later is a fresh interpreter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

from bench.engine.timing import QUICK_TIMING

ROOT = Path(__file__).resolve().parents[1]

# what a forked worker is when its job starts: torch and onnxruntime imported, nothing run
FORKED_WORKER = """
import json, os, sys
import torch, onnxruntime
from bench.engine import companion as c
first = c.shared_companion(fork=True)
calls, spacer = first.use("stream", 1, TIMING)
seconds, cpu = first.block()
ppid = open(f"/proc/{first.proc.pid}/stat").read().rsplit(")", 1)[1].split()[1]
first.proc.kill(); first.proc.wait(5)
second = c.shared_companion()  # the first died; a worker that has run work starts a fresh one
second.use("dispatch", 1, TIMING)
print(json.dumps({"first": type(first.proc).__name__, "started": first.started, "calls": calls,
                  "seconds": seconds, "parent": int(ppid), "me": os.getpid(),
                  "second": type(second.proc).__name__, "second_started": second.started,
                  "second_block": second.block()[0]}))
"""


def run_python(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_forked_workers_companion_is_its_child_and_times_blocks() -> None:
    timing = asdict(replace(QUICK_TIMING, min_sample_s=0.001))
    got = run_python(f"TIMING = {timing!r}\n" + FORKED_WORKER)
    assert got["first"] == "ForkedChild" and got["started"] == "forked from the worker"
    assert got["parent"] == got["me"]  # it stops and follows its parent: the worker
    assert got["calls"] >= 1 and got["seconds"] > 0
    assert got["second"] == "Popen" and got["second_started"] == "fresh interpreter"
    assert got["second_block"] > 0


def test_the_fork_keeps_only_its_pipes_of_the_workers_descriptors() -> None:
    # keep = {0, 1, 2, ...}: an empty os.closerange(0, 0) is close_range(0, UINT_MAX) on Linux
    got = run_python("""
import json, os
from bench.engine.companion_fork import _close_all_but
a, b = os.pipe(); c, d = os.pipe()
_close_all_but({0, 1, 2, b, c})
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print(json.dumps({str(fd): is_open(fd) for fd in (0, 1, 2, a, b, c, d)} | {"order": [a, b, c, d]}))
""")
    a, b, c, d = got.pop("order")
    assert got == {"0": True, "1": True, "2": True, str(a): False, str(b): True, str(c): True,
                   str(d): False}


def test_a_forked_worker_measures_against_a_forked_companion() -> None:
    from bench.engine.timing import TimingConfig
    from bench.forked import run_forked

    timing = TimingConfig(warmup_calls=1, warmup_s=0.0, min_sample_s=0.0002, min_total_s=0.002,
                          latency=False, rounds=2, reference=True)
    job = {"task": "training", "variant": "eager", "devices": ["cpu"], "sizes": [40], "threads": 1,
           "timing": asdict(timing), "parity_epochs": 2}
    got: list = []
    final = run_forked(job, got.append)
    assert final["done"] is True and got
    references = [r["reference"] for r in got[0].extra["rounds"]]
    assert references and all(r["started"] == "forked from the worker" for r in references)
    assert all(r["times_s"] and min(r["times_s"]) > 0 for r in references)


def test_a_forked_worker_starts_with_every_preload_imported() -> None:
    from bench.forked import PRELOAD, fork_context, missing_preloads

    # torch.optim's first call imports torch._dynamo: ~2 s in every training worker without it
    assert "torch._dynamo" in PRELOAD
    with fork_context().Pool(1) as pool:
        assert pool.apply(missing_preloads) == []
