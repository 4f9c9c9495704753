"""A numpy runtime for linreg-bench: the checkpoint's weights, y = w * x + b into a preallocated output.

The plug-in contract (bench.runtimes.base.Runtime): a class with `load(artifacts, device, threads)`
and `bind(x) -> Bound`, and its capabilities as class attributes. numpy rounds the multiply and
the add separately, as eager torch does on the CPU, so parity is bit-exact.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from bench.runtimes.base import Artifacts, Bound
from linreg.checkpoint import load_model
from linreg.errors import LinregError
from linreg.models import line_parameters


class NumpyRuntime:
    name = "numpy"
    artifact = "checkpoint"   # what it loads: checkpoint | torchscript | onnx | exported_program
    compiled = False          # no code generation: bit-exact parity is required on the CPU
    needs_cuda = False

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None:
        if device != "cpu":
            raise LinregError(f"numpy runs on the CPU only, not {device}")  # a skip record
        _, model = load_model(artifacts.checkpoint, "cpu")  # weights_only: a stranger's file runs nothing
        weight, bias = line_parameters(model)
        self.w = np.float32(weight.item())
        self.b = np.float32(bias.item())

    def bind(self, x: Any) -> Bound:
        xn = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        y = np.empty_like(xn)
        w, b = self.w, self.b

        def call() -> None:
            np.multiply(xn, w, out=y)
            np.add(y, b, out=y)

        def output() -> np.ndarray:
            call()
            return y.copy()

        return Bound(call=call, output=output)
