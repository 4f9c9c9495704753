"""Parity verdicts for timed runs, built on export's float32 comparison (max abs error and ULPs).

ULP distance counts the representable float32 values between two numbers, which stays
meaningful near zero where a relative tolerance breaks (METHOD.md: report both).
"""
from __future__ import annotations

import numpy as np

from bench.measurement import Parity
from export.parity import compare_outputs as _compare_arrays

REFERENCE = "state_dict eager model on the CPU"


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


def _as_array(x: object) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(x, dtype=np.float32)
