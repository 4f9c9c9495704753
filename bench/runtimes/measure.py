"""Inference measurements: load a runtime, check its parity, then time it at every batch size."""
from __future__ import annotations

from typing import Callable

from bench.engine.devices import device_context, device_skip_reason
from bench.engine.floors import with_efficiency
from bench.engine.measurement import Measurement, Spec
from bench.engine.parity import check_parity
from bench.engine.timing import TimingConfig, measure, skipped
from bench.runtimes import make_runtime, runtime_entry
from bench.runtimes.base import Artifacts, make_input
from linreg.errors import LinregError

INFERENCE_SIZES = (1, 10, 10**3, 10**5, 10**6, 10**7)


def measure_inference(
    runtime_name: str,
    device: str,
    sizes: tuple[int, ...] | list[int],
    artifacts: Artifacts,
    threads: int,
    timing: TimingConfig = TimingConfig(),
    skip_reason: str | None = None,
    bandwidth_bytes_per_s: float | None = None,
    on_done: Callable[[Measurement], None] | None = None,
) -> list[Measurement]:
    """Load, check parity, then time one runtime at every size; absent things become skip records."""
    import torch

    from linreg.checkpoint import load_model

    specs = [Spec("inference", runtime_name, device, b) for b in sizes]
    reason = skip_reason or device_skip_reason(device)
    runtime = make_runtime(runtime_name)
    if reason is None:
        try:
            torch.set_num_threads(threads)
            runtime.load(artifacts, device, threads)
        except LinregError as exc:  # RuntimeUnavailableError (no CUDA EP, ...), ArtifactError
            reason = str(exc)
    if reason is not None:
        out = [skipped(s, reason) for s in specs]
        for m in out:
            on_done and on_done(m)
        return out

    reference_model = load_model(artifacts.checkpoint, "cpu")[1]
    results: list[Measurement] = []
    for spec in specs:
        x = make_input(spec.batch_size)
        with torch.no_grad():
            reference = reference_model(x)
        bound = runtime.bind(x)
        parity = check_parity(reference, bound.output(), ulps=runtime_entry(runtime_name).parity_ulps(device))
        del reference
        extra = {k: v for k, v in bound.extra.items() if not k.startswith("_")}
        extra["threads"] = threads
        with bound.context(), device_context(device):
            m = measure(bound.call, spec, timing, sync=bound.sync, block=bound.block,
                        parity=parity, extra=extra)
        m = with_efficiency(m, bandwidth_bytes_per_s)
        results.append(m)
        if on_done:
            on_done(m)
        del bound
    return results
