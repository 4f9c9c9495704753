"""What every report output shares: file names, the display order of runtimes and devices.

Durations, rates and sizes are formatted by bench.engine.units (the one formatter).
"""
from __future__ import annotations

from bench.engine.floors import BYTES_PER_ELEMENT_INFERENCE

REPORT_MD = "report.md"
LATENCY_PNG = "inference_latency.png"
THROUGHPUT_PNG = "inference_throughput.png"
TRAIN_PNG = "train_epoch.png"
SCALING_PNG = "ddp_scaling.png"  # data-parallel runs only (bench/report/scaling_plot.py)
PLOT_FILES = (LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG)  # the ones write_plots draws
PLOT_TITLES = {LATENCY_PNG: "Inference latency against batch size",
               THROUGHPUT_PNG: "Inference throughput against batch size",
               TRAIN_PNG: "Training epoch time against N",
               SCALING_PNG: "Data-parallel epoch time and scaling efficiency against world size"}

BYTES_PER_SAMPLE = BYTES_PER_ELEMENT_INFERENCE  # one float32 read (x), one written (y): the floor
# Display order; both spellings of the compiled variants are known (the engine writes torch_compile).
INFERENCE_ORDER = ("eager", "inference_mode", "torchscript", "exported_program", "onnxruntime",
                   "torch_compile", "compile")
TRAIN_ORDER = ("eager", "fused", "torch_compile", "compile", "cuda_graph", "cuda_graphs")


def runtime_rank(runtime: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Known runtimes in their canonical order, then any others alphabetically."""
    return (order.index(runtime), "") if runtime in order else (len(order), runtime)


def device_rank(device: str) -> tuple[int, str]:
    return (0 if device == "cpu" else 1, device)
