"""`linreg-bench ddp` without launching: bad input, torchrun command lines, records, reports.

The launches themselves are in test_ddp_launch.py.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from bench.cli import main
from bench.compare.comparison import compare_paths
from bench.compare.gate import MedianGate
from bench.distributed.config import DdpConfig, DdpInputError
from bench.distributed.launcher import LaunchOutcome, failure_reason, torchrun_argv
from bench.distributed.parity import DDP_PARITY_ATOL, ddp_parity
from bench.distributed.records import outcome_records, plan_skip_reason, with_scaling
from bench.report.scaling import scaling_lines
from bench.engine.measurement import Measurement, Spec
from bench.report import render_report
from bench.store.results import ResultsError, build_results, validate_results
from tests import fuzz_profiles  # noqa: F401 - registers and loads the fuzz profile


@pytest.mark.parametrize("argv, needle", [
    (["--world-sizes", "0"], "world size must be >= 1, got 0"),
    (["--world-sizes", "2", "-1"], "world size must be >= 1, got -1"),
    (["--world-sizes", "2", "--backend", "mpi"], "invalid choice: 'mpi'"),
    (["--world-sizes", "2", "--backend", "nccl"], "--backend nccl needs CUDA"),
    (["--world-sizes", "2", "--device", "cuda"], "--device cuda: no CUDA device"),
    (["--world-sizes", "2", "--n", "1"], "--n must be in 2..100000000 (10^8 is ~2.4 GB per rank), got 1"),
    (["--world-sizes", "2", "--n", "1000000000"], "--n must be in 2..100000000"),
    (["--world-sizes", "100000"], "world size 100000 is over the limit of 256 ranks per node"),
    (["--world-sizes", "2", "--epochs", "0"], "--epochs must be in 1..1000000, got 0"),
    (["--world-sizes", "2", "--timeout-s", "0"], "--timeout-s must be a finite number of seconds"),
    (["--world-sizes", "2", "--timeout-s", "inf"], "--timeout-s must be a finite number of seconds"),
    (["--world-sizes", "2", "--timeout-s", "nan"], "--timeout-s must be a finite number of seconds"),
    (["--world-sizes", "2", "--nnodes", "2"], "--nnodes > 1 needs --rdzv-endpoint"),
    (["--world-sizes", "2", "--rdzv-endpoint", "bad host:x"], "--rdzv-endpoint must be HOST[:PORT]"),
    (["--world-sizes", "2", "--port", "70000"], "--port must be in 1..65535"),
    (["--world-sizes", "x"], "invalid int value: 'x'"),
    (["--world-sizes", "2", "--inject-fault", "boom"], "--inject-fault must be"),
])
def test_bad_input_is_one_error_line_and_exit_2(argv: list[str], needle: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # "without CUDA", on any host
    out = tmp_path / "out"
    assert main(["ddp", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()  # nothing launched, nothing written


def test_nccl_on_cpu_is_refused_even_with_cuda() -> None:
    with pytest.raises(DdpInputError, match="add --device cuda"):
        DdpConfig(backend="nccl", device="cpu", cuda_available=True, gpu_count=2)


def test_torchrun_command_lines(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    standalone = torchrun_argv(DdpConfig(), 2, job, None)
    assert standalone[1:3] == ["-m", "torch.distributed.run"]
    assert "--standalone" in standalone and "--nproc-per-node=2" in standalone
    assert standalone[-3:] == ["-m", "bench.distributed.rank", str(job)]
    pinned = torchrun_argv(DdpConfig(port=29511), 4, job, 29511)
    assert "--rdzv-endpoint=127.0.0.1:29511" in pinned and "--rdzv-conf=is_host=1" in pinned
    multi = torchrun_argv(DdpConfig(nnodes=2, rdzv_endpoint="node0:29400", rdzv_id="exp1"), 8, job, None)
    assert {"--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29400", "--rdzv-id=exp1-ws8",
            "--nproc-per-node=4"} <= set(multi)
    assert "--standalone" not in multi


def test_plan_skips_unequal_shards_and_missing_gpus() -> None:
    assert plan_skip_reason(DdpConfig(), 3, 10_000) == "N=10000 does not split into 3 equal shards"
    assert plan_skip_reason(DdpConfig(), 2, 10_000) is None
    cuda = DdpConfig(device="cuda", cuda_available=True, gpu_count=2)
    assert plan_skip_reason(cuda, 4, 1000) == "world size 4 needs 4 GPUs on this node (one per rank), 2 present"
    assert plan_skip_reason(cuda, 2, 1000) is None
    assert "over 2 nodes" in (plan_skip_reason(DdpConfig(nnodes=2, rdzv_endpoint="h:1"), 3, 999) or "")


def test_parity_needs_identical_ranks() -> None:
    ref = [0.45, 0.35]
    assert ddp_parity(ref, [[0.45, 0.35], [0.45, 0.35]], 13).passed
    near = ddp_parity(ref, [[0.45 + DDP_PARITY_ATOL / 2, 0.35]] * 2, 13)
    assert near.passed and near.max_abs_error > 0
    split = ddp_parity(ref, [[0.45, 0.35], [0.45, 0.35 + 1e-7]], 13)  # within atol, but ranks differ
    assert not split.passed and "bit-identical" in split.tolerance
    assert not ddp_parity(ref, [[0.46, 0.35]], 13).passed


def _result(ws: int, epoch_ms: float, n: int = 1000) -> dict:
    return {"world_size": ws, "sizes": [{
        "n": n, "shard": n // ws, "device": "cpu", "allreduce_bytes": 8,
        "rank_epoch_s": [[epoch_ms / 1e3 * (1 + 0.01 * i) for i in range(5)] for _ in range(ws)],
        "rank_allreduce_s": [[epoch_ms / 4e3] * 5 for _ in range(ws)],
        "rank_isolated_allreduce_s": [[1e-4] * 3 for _ in range(ws)],
        "rank_parameters": [[0.45, 0.35]] * ws}]}


def _records(config: DdpConfig) -> list[Measurement]:
    ref = {1000: [0.45, 0.35]}
    ok1 = LaunchOutcome(1, _result(1, 1.0), None, 3.0, "standalone")
    ok2 = LaunchOutcome(2, _result(2, 0.8), None, 3.5, "standalone")
    bad = LaunchOutcome(4, None, "rank 3 failed first: RuntimeError: boom (torchrun exit 1)", 4.0, "standalone")
    recs = []
    for outcome in (ok1, ok2, bad):
        recs += outcome_records(config, outcome, [1000], ref, {"world_size": outcome.world_size,
                                                               "backend": "gloo", "ranks_share_cores": False})
    return with_scaling(recs)


def test_records_scaling_efficiency_and_failures() -> None:
    ws1, ws2, ws4 = _records(DdpConfig(epochs=5))
    assert ws1.extra["scaling_efficiency"] == pytest.approx(1.0)
    assert ws2.extra["scaling_efficiency"] == pytest.approx(1.0 / (2 * 0.8))
    assert ws2.extra["allreduce_share"] == pytest.approx(0.25, rel=0.05)
    assert ws2.spec == Spec("train_epoch", "ddp", "cpu", 1000, 2) and ws2.spec.label == "train_epoch/ddp-ws2/cpu/1000"
    assert ws2.parity is not None and ws2.parity.passed and ws2.extra["ranks_identical"]
    assert ws4.skipped and ws4.extra["failed"] and ws4.skip_reason.startswith("failed: world size 4: rank 3")


def test_results_keep_world_sizes_apart_and_render(tmp_path: Path) -> None:

    results = build_results({}, {}, {}, _records(DdpConfig(epochs=5)))
    validate_results(results)
    assert [e["world_size"] for e in results["measurements"]] == [1, 2, 4]
    again = json.loads(json.dumps(results))
    again["measurements"][1]["world_size"] = 1  # two records of one identity
    with pytest.raises(ResultsError, match="duplicates"):
        validate_results(again)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    rows = {r.key: r.verdict for r in compare_paths(path, path, MedianGate(), resamples=50).rows}
    assert {"train_epoch/ddp-ws1/cpu/1000", "train_epoch/ddp-ws2/cpu/1000"} <= set(rows)
    report = render_report(results)
    assert "## Data-parallel training" in report and "| ddp-ws2 | cpu |" in report
    assert "failed: world size 4: rank 3 failed first" in report


def test_scaling_section_says_when_workers_share_cores() -> None:
    entry = {"phase": "train_epoch", "runtime": "ddp", "device": "cpu", "batch_size": 10**6,
             "world_size": 2, "backend": "gloo", "median_s": 0.016, "iqr_s": 0.001, "times_s": [0.016],
             "scaling_efficiency": 0.24, "allreduce_median_s": 2e-4, "allreduce_share": 0.0125,
             "nproc_per_node": 2, "threads": 1, "host_cpus": 2, "ranks_share_cores": True,
             "parity": {"passed": True, "max_abs_error": 0.0, "max_ulp": 0}}
    text = "\n".join(scaling_lines([entry]))
    assert "**Workers share cores.**" in text and "2×1 on 2" in text and "| 0.24 |" in text
    assert scaling_lines([{**entry, "runtime": "eager"}]) == []


def test_failure_reason_names_the_first_rank_and_where_a_hung_one_was(tmp_path: Path) -> None:
    (tmp_path / "rank0.json").write_text(json.dumps(
        {"rank": 0, "pid": 1, "stage": "N=1000: training", "error": "RuntimeError: peer closed", "error_time": 2.0}))
    (tmp_path / "rank1.json").write_text(json.dumps(
        {"rank": 1, "pid": 2, "stage": "N=1000: training", "error": "ValueError: bad", "error_time": 1.0}))
    text = failure_reason(tmp_path, 2, "", 1, None)
    assert text.startswith("rank 1 failed first: ValueError: bad; then rank 0: RuntimeError: peer closed")
    (tmp_path / "rank1.stack").write_text(
        'Thread 0x1 (most recent call first):\n'
        '  File "/x/torch/distributed/distributed_c10d.py", line 4900 in barrier\n'
        '  File "/x/bench/distributed/rank.py", line 142 in train_size\n'
        '  File "/x/bench/distributed/rank.py", line 180 in run\n')
    hung = failure_reason(tmp_path, 2, "", None, 30)
    assert hung.startswith("timed out after 30 s (--timeout-s)")
    assert "rank 1 at N=1000: training, in barrier (distributed_c10d.py:4900) from train_size (rank.py:142)" in hung
    log = "  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 5)\n"
    assert "rank 1 was killed by SIGKILL" in failure_reason(tmp_path / "none", 2, log, 1, None)


@given(data=st.data())
def test_generated_ddp_options_are_a_config_or_one_input_error(data: st.DataObject) -> None:
    """Whatever the numbers, DdpConfig is valid or raises DdpInputError: never another exception."""
    ints = st.one_of(st.integers(-3, 3), st.integers(-2**70, 2**70), st.sampled_from([256, 257, 10**8, 10**8 + 1]))
    kwargs = {
        "world_sizes": tuple(data.draw(st.lists(ints, max_size=3))),
        "sizes": tuple(data.draw(st.lists(ints, max_size=3))),
        "epochs": data.draw(ints), "warmup_epochs": data.draw(ints), "threads": data.draw(ints),
        "nnodes": data.draw(ints), "port": data.draw(st.one_of(st.none(), ints)),
        "timeout_s": data.draw(st.floats()), "backend": data.draw(st.sampled_from(["gloo", "nccl", "auto", "x"])),
        "device": data.draw(st.sampled_from(["cpu", "cuda", "tpu"])),
        "rdzv_endpoint": data.draw(st.one_of(st.none(), st.text(max_size=20), st.just("h:1"))),
        "rdzv_id": data.draw(st.text(max_size=70)),
    }
    try:
        config = DdpConfig(**kwargs)
    except DdpInputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(1 <= k for k in config.world_sizes) and all(2 <= n <= 10**8 for n in config.sizes)
    assert config.resolved_backend == "gloo" and math.isfinite(config.timeout_s)
