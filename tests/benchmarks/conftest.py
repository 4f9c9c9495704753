"""The pytest-benchmark suite: pinned threads, and a machine_info that says what the numbers depend on.

Run it through `make bench-save` / `make bench-check` (outside the default `make test`):
pytest-benchmark's own machine_info names only the OS, Python and CPU, so the hook below adds
torch, ONNX Runtime, ONNX, numpy and CUDA versions, the GPU and its driver, the thread counts and
the allocator settings; `linreg-bench compare` warns when any of them differ between two files.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

THREADS = int(os.environ.get("LINREG_BENCH_THREADS", "1"))  # one thread: steadier, and like for like
ALLOCATOR_KEYS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_",
                  "MALLOC_ARENA_MAX", "PYTORCH_CUDA_ALLOC_CONF", "LD_PRELOAD")


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - an absent runtime is recorded as None
        return None


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    from bench.store.fingerprint import gpu_driver
    from linreg.environment import git_revision

    has_cuda = torch.cuda.is_available()
    machine_info.update({
        "torch_version": torch.__version__,
        "onnxruntime_version": _version("onnxruntime"),
        "onnx_version": _version("onnx"),
        "numpy_version": _version("numpy"),
        "cuda_version": torch.version.cuda,
        "gpu_name": torch.cuda.get_device_name(0) if has_cuda else None,
        "gpu_driver": gpu_driver() if has_cuda else None,
        "torch_threads": THREADS,
        "torch_interop_threads": torch.get_num_interop_threads(),
        "ort_intra_op_threads": THREADS,
        "allocator": {k: os.environ[k] for k in ALLOCATOR_KEYS if k in os.environ},
        "linreg_git": git_revision(),
    })


@pytest.fixture(scope="session", autouse=True)
def pinned_threads() -> int:
    """torch's intra-op threads fixed for the whole session (results at large N depend on it)."""
    torch.set_num_threads(THREADS)
    return THREADS


@pytest.fixture(scope="session")
def artifacts(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tutorial model exported to every format, through the product's own export_all."""
    from bench.runtimes.base import Artifacts
    from export.exporters import export_all

    out = tmp_path_factory.mktemp("export") / "model"
    export_all(checkpoint, out)
    return Artifacts.from_export_dir(out, checkpoint)
