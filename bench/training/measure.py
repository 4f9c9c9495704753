"""Training measurements: parity of K epochs against the eager loop, then the time of one epoch."""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Mapping

from bench.engine.combine import merge_rounds
from bench.engine.devices import (compile_cache_note, compile_cache_state, device_context,
                                  device_skip_reason, device_sync)
from bench.engine.floors import with_efficiency
from bench.engine.measurement import Measurement, Spec
from bench.engine.parity import check_parity
from bench.engine.companion import interleaved_reference
from bench.engine.layout import layout_spacer
from bench.engine.timing import TimingConfig, measure, skipped
from bench.engine.tub_timer import torch_timer
from bench.training import PARITY_EPOCHS, make_loop, variant_entry, variant_skip_reason
from bench.training.loops import make_train_data


def run_epochs(variant: str, n: int, device: str, epochs: int) -> tuple[Any, Any]:
    """Final (weights, bias) on the CPU after `epochs` steps from the tutorial's initial values."""
    with device_context(device):
        X, y = make_train_data(n, device)
        loop = make_loop(variant, X, y, device)
        for _ in range(epochs):
            loop.step()
        w, b = loop.parameters()
    return w.detach().cpu().clone(), b.detach().cpu().clone()


def measure_training(
    variant: str,
    device: str,
    sizes: tuple[int, ...] | list[int],
    threads: int,
    timing: TimingConfig = TimingConfig(),
    parity_epochs: int = PARITY_EPOCHS,
    skip_reason: str | None = None,
    floors_bytes_per_s: Mapping[str, float] | None = None,
    on_done: Callable[[Measurement], None] | None = None,
) -> list[Measurement]:
    """Per size: parity of K epochs against the eager loop, then time one epoch (one step)."""
    import torch

    torch.set_num_threads(threads)
    specs = [Spec("train_epoch", variant, device, n, threads=threads) for n in sizes]
    reason = skip_reason or device_skip_reason(device) or variant_skip_reason(variant, device)
    if reason is not None:
        out = [skipped(s, reason) for s in specs]
        for m in out:
            on_done and on_done(m)
        return out

    sync = device_sync(device)  # cuda / mps: the block waits for the device
    results: list[Measurement] = []
    for spec in specs:
        parity = _parity(variant, spec.batch_size, device, parity_epochs)
        rounds = timing.rounds_for(spec.batch_size)
        timed: list[Measurement] = []
        for r in range(rounds):  # later rounds keep the first one's calls per block (same cost)
            timed.append(_timed_round(variant, spec, threads, timing.per_round(rounds), sync, parity,
                                      timed[0].calls_per_sample if r else None, compile_anew=not r))
        m = with_efficiency(merge_rounds(timed), (floors_bytes_per_s or {}).get(str(spec.batch_size)))
        results.append(m)
        if on_done:
            on_done(m)
    return results


def _timed_round(variant: str, spec: Spec, threads: int, timing: TimingConfig,
                 sync: Callable[[], None] | None, parity: Any, calls: int | None = None,
                 compile_anew: bool = True) -> Measurement:
    """One round: fresh data and a fresh loop (model, optimizer) after a spacer (another draw of
    layout, bench/engine/layout.py), then its timed blocks."""
    spacer = layout_spacer()  # noqa: F841 - alive while the round's buffers are made and used
    X, y = make_train_data(spec.batch_size, spec.device)
    loop, extra = _first_step(variant, X, y, spec.device, sync, compile_anew)
    extra = {"timed": "train_epoch (one full-batch step)", **extra}
    with device_context(spec.device):
        return measure(loop.step, spec, timing, sync=sync,
                       block=torch_timer(loop.step, threads, sync), parity=parity, extra=extra, calls=calls,
                       reference=interleaved_reference(spec, timing, "autograd"))


def _first_step(variant: str, X: Any, y: Any, device: str, sync: Callable[[], None] | None,
                compile_anew: bool = True) -> tuple[Any, dict[str, Any]]:
    """Build the loop and run its first step, which compiles (torch.compile) or captures (CUDA
    graphs): that time is reported as compile_s, never as part of the median. A size's later
    rounds (not compile_anew) keep dynamo's cache: the same static-shape code, fresh buffers."""
    import torch

    entry = variant_entry(variant)
    if entry.inductor and compile_anew:
        torch._dynamo.reset()  # this size compiles its own static-shape graph, timed below
    # only inductor reads the cache counters (the other variants have none to read)
    cache_before = compile_cache_state() if entry.inductor else {}
    start = time.perf_counter()
    with warnings.catch_warnings(), device_context(device):  # inductor touches torch.jit
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        loop = make_loop(variant, X, y, device)
        loop.step()
    if sync:
        sync()
    extra: dict[str, Any] = {}
    if entry.compiled:
        extra["compile_s"] = time.perf_counter() - start
    if entry.inductor:
        extra["compile_cache"] = compile_cache_note(cache_before, compile_cache_state())
    return loop, extra


def _parity(variant: str, n: int, device: str, epochs: int) -> Any:
    """The variant's parameters after K epochs against the eager loop's, by its declared rule."""
    import torch

    if variant == "eager" or epochs <= 0:
        return None
    ref = torch.cat(run_epochs("eager", n, device, epochs))
    cand = torch.cat(run_epochs(variant, n, device, epochs))
    return check_parity(ref, cand, variant_entry(variant).parity_atol,
                        reference_name=f"eager loop's parameters after {epochs} epochs")


def count_training(variant: str, sizes: list[int], collector: Any) -> list[dict[str, Any]]:
    """Instructions per training step of one variant on the CPU at every size, one thread."""
    import torch

    from bench.engine.callgrind import count_workload, plan_for

    torch.set_num_threads(1)
    out = []
    for n in sizes:
        X, y = make_train_data(n, "cpu")
        loop = make_loop(variant, X, y, "cpu")
        record = count_workload(loop.step, plan_for(n), collector)
        out.append({"phase": "train_epoch", "runtime": variant, "batch_size": n, "instructions": record})
    return out
