"""What every report output shares: file names, the display order of runtimes and devices
(taken from the runtime and training registries, the one list of names).

Durations, rates and sizes are formatted by bench.engine.units (the one formatter).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench import runtimes, training
from bench.engine.floors import BYTES_PER_ELEMENT_INFERENCE

REPORT_MD = "report.md"
LATENCY_PNG = "inference_latency.png"
THROUGHPUT_PNG = "inference_throughput.png"
TRAIN_PNG = "train_epoch.png"
SCALING_PNG = "ddp_scaling.png"  # data-parallel runs only (bench/report/scaling_plot.py)
PLOT_FILES = (LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG)  # the ones write_plots draws
PERCENTILES_PNG = "latency_percentiles.png"
CDF_PNG = "latency_cdf.png"
LATENCY_PLOT_FILES = (PERCENTILES_PNG, CDF_PNG)
PLOT_TITLES = {LATENCY_PNG: "Inference latency against batch size",
               PERCENTILES_PNG: "Per-request latency percentiles against batch size",
               CDF_PNG: "Per-request latency distribution at batch 1",
               THROUGHPUT_PNG: "Inference throughput against batch size",
               TRAIN_PNG: "Training epoch time against N",
               SCALING_PNG: "Data-parallel epoch time and scaling efficiency against world size"}

BYTES_PER_SAMPLE = BYTES_PER_ELEMENT_INFERENCE  # one float32 read (x), one written (y): the floor
# Older results spell some compiled variants differently; each sorts beside its canonical name.
LEGACY_NAMES = {"torch_compile": "compile", "cuda_graph": "cuda_graphs"}


def _display_order(entries: Iterable[Any]) -> tuple[str, ...]:
    """The registry's display order (each entry's `order`), legacy spellings beside their names."""
    names: list[str] = []
    for entry in sorted(entries, key=lambda e: e.order):
        names += [entry.name] + ([LEGACY_NAMES[entry.name]] if entry.name in LEGACY_NAMES else [])
    return tuple(names)


INFERENCE_ORDER = _display_order(runtimes.BUILTIN)  # plug-ins follow, alphabetically
TRAIN_ORDER = _display_order(training.BUILTIN)


def runtime_rank(runtime: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Known runtimes in their canonical order, then any others alphabetically."""
    return (order.index(runtime), "") if runtime in order else (len(order), runtime)


def device_rank(device: str) -> tuple[int, str]:
    return (0 if device == "cpu" else 1, device)
