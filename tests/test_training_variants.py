"""Training variants compute the tutorial's update: fused equals autograd bit for bit."""
from __future__ import annotations

import pytest
import torch

from bench.engine.timing import TimingConfig
from bench.training import variant_entry
from bench.training.measure import measure_training, run_epochs

TINY = TimingConfig(warmup_calls=1, warmup_s=0.0, min_sample_s=0.0002, min_total_s=0.002,
                    min_samples=3, max_total_s=0.3)


@pytest.mark.parametrize("n", [40, 10_000])
def test_fused_step_equals_autograd_bit_for_bit(n: int) -> None:
    eager = torch.cat(run_epochs("eager", n, "cpu", 100))
    fused = torch.cat(run_epochs("fused", n, "cpu", 100))
    assert torch.equal(eager, fused), f"max_abs_error {(eager - fused).abs().max().item()}"


def test_eager_epochs_reproduce_linreg_training(tutorial_run) -> None:
    """The bench's eager loop is the tutorial's: same parameters after 100 epochs."""
    w, b = run_epochs("eager", 40, "cpu", 100)
    assert w.item() == tutorial_run.final_state["weights"][0]
    assert b.item() == tutorial_run.final_state["bias"][0]


def test_measured_fused_variant_records_bit_exact_parity() -> None:
    (m,) = measure_training("fused", "cpu", [40], threads=1, timing=TINY, parity_epochs=5)
    assert not m.skipped and m.times_s
    assert m.parity is not None and m.parity.passed and m.parity.tolerance == "bit-exact"
    assert m.parity.max_ulp == 0
    assert m.spec.threads == 1 and "minor_faults_per_call" in m.extra


def test_cuda_graph_on_cpu_is_a_skip_record_with_reason() -> None:
    out = measure_training("cuda_graph", "cpu", [40, 10_000], threads=1, timing=TINY)
    assert [m.skip_reason for m in out] == ["CUDA graphs need a CUDA device"] * 2
    absent = measure_training("eager", "cuda", [40], threads=1, timing=TINY)
    if not torch.cuda.is_available():
        assert absent[0].skip_reason == "cuda: no CUDA device"


@pytest.mark.slow
def test_compiled_step_matches_eager_within_tolerance() -> None:
    (m,) = measure_training("torch_compile", "cpu", [40], threads=1, timing=TINY, parity_epochs=5)
    assert m.parity is not None and m.parity.passed, m.parity
    assert m.extra["compile_s"] > 0
    assert variant_entry("torch_compile").parity_atol is not None


@pytest.mark.cuda
@pytest.mark.parametrize("variant", ["eager", "fused", "cuda_graph"])
def test_cuda_variants(variant: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    (m,) = measure_training(variant, "cuda", [10_000], threads=1, timing=TINY, parity_epochs=5)
    assert not m.skipped and m.times_s
    if variant != "eager":
        assert m.parity is not None and m.parity.passed, m.parity


@pytest.mark.slow
def test_compile_runs_afresh_for_every_size() -> None:
    # Without torch._dynamo.reset() + dynamic=False the second size reused the first's
    # dynamic-shape graph: Inductor never ran for it (no cache hit or miss: "unknown").
    ms = measure_training("torch_compile", "cpu", [40, 1000], threads=1, timing=TINY, parity_epochs=2)
    for m in ms:
        assert m.extra["compile_cache"] in ("cold", "warm"), m.spec.label
        assert m.parity is not None and m.parity.passed


@pytest.mark.slow
def test_compiled_sizes_compile_once_and_time_every_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each round is a fresh instance (a draw), but only a size's first round compiles: later
    rounds keep dynamo's cache, so torch.compile gets as many draws as the others."""
    import torch._dynamo

    resets: list[int] = []
    real_reset = torch._dynamo.reset
    monkeypatch.setattr(torch._dynamo, "reset", lambda: (resets.append(1), real_reset())[1])
    ms = measure_training("torch_compile", "cpu", [40, 1000], threads=1, timing=TINY, parity_epochs=0)
    assert len(resets) == 2  # one compile per size
    assert [len(m.extra["rounds"]) for m in ms] == [TINY.rounds] * 2


@pytest.mark.slow
def test_the_compiled_runtime_binds_a_size_again_without_compiling(monkeypatch: pytest.MonkeyPatch,
                                                                   checkpoint) -> None:
    import torch._dynamo

    from bench.runtimes import runtime_entry
    from bench.runtimes.base import Artifacts, make_input

    resets: list[int] = []
    real_reset = torch._dynamo.reset
    monkeypatch.setattr(torch._dynamo, "reset", lambda: (resets.append(1), real_reset())[1])
    runtime = runtime_entry("torch_compile").make()
    runtime.load(Artifacts(checkpoint=checkpoint), "cpu", 1)
    outputs = [runtime.bind(make_input(n)).output() for n in (10, 10, 1000)]
    assert len(resets) == 2  # batch 10 compiled once for both bindings, then batch 1000
    assert torch.equal(outputs[0], outputs[1])
