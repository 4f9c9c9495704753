"""Parity verdicts for timed runs, and every tolerance they are judged by, in one place.

Built on export's float32 comparison (max abs error and ULPs). ULP distance counts the
representable float32 values between two numbers, which stays meaningful near zero where a
relative tolerance breaks (report both).

The rules:
- inference: y = w*x + b is one multiply and one add. Every CPU runtime rounds both steps alike,
  so bit-exact is expected (and measured; export's verify uses the same EXACT_ULP). Code
  generators may contract them into one FMA (one rounding fewer): compiled runtimes and every
  GPU kernel get FMA_ULP (1 ULP).
- training: bit-exact where the arithmetic is the same (the fused step); compiled and graph code
  may reorder a reduction. At N = 10^6 the compiled sum differs by ~1e-5 after 10 epochs
  (hundreds of ULP): a different float32 summation order, not a different update, hence an
  absolute tolerance of REORDERED_SUM_ATOL on the parameters.
"""
from __future__ import annotations

import numpy as np

from bench.engine.measurement import Parity
from export.parity import EXACT_ULP, FMA_ULP
from export.parity import compare_outputs as _compare_arrays
from linreg.device import parse_device

REFERENCE = "state_dict eager model on the CPU"
REORDERED_SUM_ATOL = 1e-4   # training variants whose reductions may run in another order
DEFAULT_TRAINING_ATOL = 1e-4  # a training variant that declares no rule of its own


def inference_ulps(compiled: bool, device: str) -> int:
    """Allowed ULP distance from the state_dict model for an inference runtime on `device`."""
    return FMA_ULP if compiled or parse_device(device).kind != "cpu" else EXACT_ULP


def compare_outputs(reference: object, candidate: object) -> tuple[float, int]:
    """(max_abs_error, max_ulp) of two arrays or tensors (any device) of the same shape."""
    return _compare_arrays(_as_array(reference), _as_array(candidate))


def max_ulp(reference: object, candidate: object) -> int:
    """Largest ULP distance between matching float32 elements (0 means bit-exact)."""
    return compare_outputs(reference, candidate)[1]


def check_parity(reference: object, candidate: object, atol: float | None = None,
                 reference_name: str = REFERENCE, ulps: int | None = None) -> Parity:
    """A Parity verdict: within `ulps` ULP if given, else max_abs_error <= atol, else bit-exact."""
    err, ulp = compare_outputs(reference, candidate)
    if ulps is not None:
        tolerance = "bit-exact" if ulps == 0 else f"max_ulp <= {ulps}"
        return Parity(err, ulp, ulp <= ulps, tolerance, reference_name)
    if atol is None:
        return Parity(err, ulp, ulp == 0, "bit-exact", reference_name)
    return Parity(err, ulp, err <= atol, f"max_abs_error <= {atol:g}", reference_name)


def failed_parity(measurements: list) -> list:  # list[Measurement]
    """Timed measurements whose parity check failed: the one definition every reader uses."""
    return [m for m in measurements if not m.skipped and m.parity is not None and not m.parity.passed]


def _as_array(x: object) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(x, dtype=np.float32)
