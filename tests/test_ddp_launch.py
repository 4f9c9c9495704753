"""`linreg-bench ddp` for real: torchrun, gloo ranks on this CPU, faults, Ctrl-C, a busy port.

The end-to-end world-size-2 run is in the default suite (a few seconds); the fault tests are slow.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main

SMALL = ["--n", "1000", "4000", "--epochs", "3", "--warmup-epochs", "1"]


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "bench", "ddp", *argv]


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def _by_ws(results: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for e in results["measurements"]:
        out.setdefault(e["world_size"], []).append(e)
    return out


def _leftovers(marker: str, exclude: int = -1) -> list[str]:
    """Live processes whose command line mentions `marker` (our --out folder), zombies excluded."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == exclude:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            found.append(f"{d.name}: {cmd[:120]}")
    return found


def test_world_size_2_gloo_end_to_end_with_parity_across_ranks(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ddp"
    assert main(["ddp", "--world-sizes", "2", *SMALL, "--out", str(out)]) == 0
    entries = _results(out)["measurements"]
    assert [(e["runtime"], e["world_size"], e["batch_size"]) for e in entries] == [("ddp", 2, 1000), ("ddp", 2, 4000)]
    for e in entries:
        assert e["phase"] == "train_epoch" and e["backend"] == "gloo" and len(e["times_s"]) == 3
        assert e["parity"]["passed"], e["parity"]
        assert e["ranks_identical"] and e["rank_max_abs_diff"] == 0.0 and len(e["rank_epoch_median_s"]) == 2
        assert 0 < e["allreduce_share"] < 1 and e["allreduce_bytes"] == 8 and e["minor_faults_per_call"] >= 0
        assert e["host_cpus"] >= 1 and e["nproc_per_node"] == 2 and e["threads"] == 1
    assert (out / "ddp_scaling.png").is_file() and (out / "logs" / "ws2.log").is_file()
    assert "## Data-parallel training" in (out / "report.md").read_text()
    assert not (out / ".ddp-run").exists()
    assert main(["compare", str(out / "results.json"), str(out / "results.json")]) == 0  # reads like any other
    capsys.readouterr()


@pytest.mark.slow
def test_a_crashing_rank_is_recorded_and_other_world_sizes_kept(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    run = subprocess.run(_cli("--world-sizes", "1", "2", *SMALL, "--inject-fault", "crash:2:1",
                              "--out", str(out)), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(
        "error: world size 2: rank 1 failed first: RuntimeError: injected crash on rank 1")
    by_ws = _by_ws(_results(out))
    assert all("times_s" in e and e["parity"]["passed"] for e in by_ws[1])  # world size 1 kept
    assert [e["skip_reason"].startswith("failed: world size 2: rank 1 failed first") for e in by_ws[2]] == [True, True]
    assert all(e["failed"] for e in by_ws[2])


@pytest.mark.slow
def test_a_hung_rank_is_ended_by_the_timeout(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    run = subprocess.run(_cli("--world-sizes", "2", *SMALL, "--inject-fault", "hang:2:0", "--timeout-s", "10",
                              "--out", str(out)), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    reason = _by_ws(_results(out))[2][0]["skip_reason"]
    assert reason.startswith("failed: world size 2: timed out after 10 s (--timeout-s), job ended")
    assert "rank 0 at N=1000: training, in inject_fault (rank.py:" in reason
    assert _leftovers(str(out)) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_orphans_after_ctrl_c_or_kill(sig: signal.Signals, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    # SIGINT at its default in the child: a suite started in the background (`cmd &`) ignores
    # SIGINT, every child inherits that, and Python then leaves it ignored (no KeyboardInterrupt)
    proc = subprocess.Popen(_cli("--world-sizes", "2", "--n", "1000", "--epochs", "1000000",
                                 "--out", str(out)), stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both ranks training
            stages = [json.loads(p.read_text()).get("stage", "") for p in (out / ".ddp-run" / "ws2").glob("rank*.json")
                      if p.stat().st_size] if (out / ".ddp-run" / "ws2").is_dir() else []
            if len(stages) == 2 and all("training" in s for s in stages):
                break
            time.sleep(0.2)
        assert len(_leftovers(str(out), exclude=proc.pid)) == 3  # torchrun and two ranks
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == (130 if sig == signal.SIGINT else -9)
    deadline = time.monotonic() + 15  # SIGKILL: torchrun gets SIGTERM from the kernel and ends its ranks
    while _leftovers(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(str(out)) == []
    if sig == signal.SIGINT:
        assert proc.stderr is not None and "error: interrupted" in proc.stderr.read()
        reason = _results(out)["measurements"][0]["skip_reason"]
        assert reason == "failed: world size 2: interrupted (Ctrl-C); the job was ended"
        assert _results(out)["partial"] is True and "world size 2" in _results(out)["partial_reason"]


@pytest.mark.slow
def test_a_port_in_use_is_retried_on_another(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(_cli("--world-sizes", "2", "--n", "1000", "--epochs", "2", "--port", str(port),
                                  "--out", str(out)), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    entry = _results(out)["measurements"][0]
    assert entry["port_retries"] >= 1 and entry["rendezvous"] != f"127.0.0.1:{port}"
    assert entry["parity"]["passed"]


@pytest.mark.slow
def test_two_nodes_through_the_c10d_rendezvous_each_keep_the_record(tmp_path: Path) -> None:
    """Two `ddp --nnodes 2` commands on this machine stand in for two nodes (one rank each)."""
    from bench.distributed.launcher import free_port

    endpoint = f"127.0.0.1:{free_port()}"
    outs = [tmp_path / "node0", tmp_path / "node1"]
    procs = [subprocess.Popen(_cli("--world-sizes", "2", "--n", "1000", "--epochs", "2", "--nnodes", "2",
                                   "--rdzv-endpoint", endpoint, "--timeout-s", "120", "--out", str(out)),
                              stderr=subprocess.PIPE, text=True) for out in outs]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0], [p.stderr.read() for p in procs if p.stderr]
    records = [_results(out)["measurements"][0] for out in outs]
    for e in records:
        assert e["nnodes"] == 2 and e["nproc_per_node"] == 1 and e["parity"]["passed"] and e["ranks_identical"]
    assert records[0]["times_s"] == records[1]["times_s"]  # one job, one gathered record on each node
