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
    from bench.runtimes import make_input, make_runtime
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
    got = bound.output()
    got = torch.as_tensor(got.detach().cpu().numpy() if hasattr(got, "detach") else got)
    assert torch.allclose(got, expected, atol=1e-6), f"max_abs_error {(got - expected).abs().max()}"

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
