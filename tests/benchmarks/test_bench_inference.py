"""pytest-benchmark: inference per runtime at batch 1 and 10^6, through bench.runtimes' bindings."""
from __future__ import annotations

import pytest
import torch

SIZES = [1, 1_000_000]
RUNTIMES = ["eager", "inference_mode", "torchscript", "exported_program", "onnxruntime",
            pytest.param("torch_compile", marks=pytest.mark.slow)]  # compiles for seconds first


@pytest.mark.parametrize("batch", SIZES)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_inference(benchmark, artifacts, runtime: str, batch: int, device: str) -> None:
    from bench.engine.parity import check_parity
    from bench.runtimes import make_runtime, runtime_entry
    from bench.runtimes.base import make_input
    from linreg.checkpoint import load_model
    from linreg.errors import LinregError

    rt = make_runtime(runtime)
    try:
        rt.load(artifacts, device, torch.get_num_threads())
    except LinregError as exc:  # e.g. no CUDAExecutionProvider in this onnxruntime build
        pytest.skip(str(exc))
    x = make_input(batch)
    bound = rt.bind(x)
    # Parity before timing: a fast wrong answer is not a result.
    expected = load_model(artifacts.checkpoint, "cpu")[1](x).detach()
    # The product's rule (bench.engine.parity, declared per runtime in bench.runtimes): bit-exact on the CPU, 1 ULP where FMA may
    # contract the multiply-add (torch.compile, CUDA), not an absolute tolerance.
    parity = check_parity(expected, bound.output(), ulps=runtime_entry(runtime).parity_ulps(device))
    assert parity.passed, f"parity failed: max_abs_error {parity.max_abs_error}, " \
        f"max_ulp {parity.max_ulp} ({parity.tolerance})"

    call, sync = bound.call, bound.sync
    if sync is not None:
        def timed() -> None:
            call()
            sync()
    else:
        timed = call
    benchmark.extra_info.update(phase="inference", runtime=runtime, device=device, batch_size=batch)
    with bound.context():
        benchmark(timed)
