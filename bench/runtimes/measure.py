"""Inference measurements: load a runtime, check its parity, then time it at every batch size."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from bench.engine.combine import merge_rounds
from bench.engine.devices import device_context, device_skip_reason
from bench.engine.floors import with_efficiency
from bench.engine.latency import with_latency
from bench.engine.measurement import Measurement, Spec
from bench.engine.memory import MemoryTracker
from bench.engine.parity import check_parity
from bench.engine.companion import interleaved_reference
from bench.engine.layout import layout_spacer
from bench.engine.timing import TimingConfig, measure, skipped
from bench.runtimes import RuntimeEntry, runtime_entry
from bench.runtimes.base import Artifacts, make_input
from linreg.checkpoint import load_model
from linreg.errors import LinregError, exception_line

INFERENCE_SIZES = (1, 10, 10**3, 10**5, 10**6, 10**7)


def measure_inference(
    runtime_name: str,
    device: str,
    sizes: tuple[int, ...] | list[int],
    artifacts: Artifacts,
    threads: int,
    timing: TimingConfig = TimingConfig(),
    skip_reason: str | None = None,
    floors_bytes_per_s: Mapping[str, float] | None = None,
    on_done: Callable[[Measurement], None] | None = None,
) -> list[Measurement]:
    """Load, check parity, then time one runtime at every size; absent things become skip records.

    A plug-in's own exceptions (anything but a LinregError from a built-in) are its broken
    contract: the sizes it did not finish become skip records naming the plug-in, never a crash.
    """
    import torch

    entry = runtime_entry(runtime_name)
    caught = Exception if entry.source != "built-in" else LinregError
    specs = [Spec("inference", runtime_name, device, b, threads=threads) for b in sizes]
    reason = skip_reason or device_skip_reason(device)
    runtime = None
    memory = MemoryTracker(device) if reason is None else None  # baseline: before the runtime loads
    if reason is None:
        try:
            torch.set_num_threads(threads)
            runtime = entry.make()
            runtime.load(artifacts, device, threads)
        except caught as exc:  # RuntimeUnavailableError (no CUDA EP, ...), ArtifactError, a plug-in's
            reason = _failure(entry, exc)
    results: list[Measurement] = []
    for spec in specs:
        if reason is None:
            try:
                m = _measure_one(runtime, entry, spec, artifacts, threads, timing, memory)
            except caught as exc:
                reason = _failure(entry, exc)
        if reason is not None:
            m = skipped(spec, reason)
        m = with_efficiency(m, (floors_bytes_per_s or {}).get(str(spec.batch_size)))
        results.append(m)
        if on_done:
            on_done(m)
    return results


def _failure(entry: RuntimeEntry, exc: Exception) -> str:
    if entry.source == "built-in":
        return str(exc)
    return f"{entry.source} broke the runtime contract ({exception_line(exc, 200)})"


def _measure_one(runtime: Any, entry: RuntimeEntry, spec: Spec, artifacts: Artifacts, threads: int,
                 timing: TimingConfig, memory: Any) -> Measurement:
    """Parity of one size against the state_dict model on the CPU, then its timing: blocks, then
    single calls (per-request latency); the memory peak of the whole size is stored with it."""
    import torch

    memory.start()
    x = make_input(spec.batch_size)
    with torch.no_grad():
        reference = load_model(artifacts.checkpoint, "cpu")[1](x)
    bound = runtime.bind(x)
    parity = check_parity(reference, bound.output(), ulps=entry.parity_ulps(spec.device))
    del reference
    extra = {k: v for k, v in bound.extra.items() if not k.startswith("_")}
    rounds = timing.rounds_for(spec.batch_size)
    per_round = timing.per_round(rounds)
    timed = []
    for r in range(rounds):
        if r:  # a fresh binding per round after a spacer: new buffers, another draw of layout
            bound = spacer = None
            spacer = layout_spacer()  # noqa: F841 - alive while the round's buffers are made and used
            bound = runtime.bind(make_input(spec.batch_size))
        with bound.context(), device_context(spec.device):
            timed.append(measure(bound.call, spec, per_round, sync=bound.sync, block=bound.block,
                                 parity=parity, extra=extra, calls=timed[0].calls_per_sample if r else None,
                                 reference=interleaved_reference(spec, per_round, entry.reference)))
    with bound.context(), device_context(spec.device):
        m = merge_rounds(timed)
        if timing.latency:
            m = with_latency(m, bound.call, bound.sync, timing)
    return replace(m, extra={**m.extra, "memory": memory.record()})


def count_inference(runtime_name: str, sizes: list[int], artifacts: Artifacts,
                    collector: Any) -> list[dict[str, Any]]:
    """Instructions per call of one runtime on the CPU at every size (bench/engine/callgrind.py).

    One intra-op thread (the suite pins it too): a pool's spinning threads would be counted."""
    import torch

    from bench.engine.callgrind import count_workload, plan_for

    torch.set_num_threads(1)
    runtime = runtime_entry(runtime_name).make()
    runtime.load(artifacts, "cpu", 1)
    out = []
    for size in sizes:
        bound = runtime.bind(make_input(size))
        with bound.context():  # the runtime's own grad mode, as when timed
            record = count_workload(bound.call, plan_for(size), collector)
        out.append({"phase": "inference", "runtime": runtime_name, "batch_size": size,
                    "instructions": record})
    return out
