"""Parity arithmetic: max absolute error and ULP distance between two float32 arrays.

ULP distance counts the representable float32 values between two numbers, which stays
meaningful near zero where a relative tolerance breaks (METHOD.md: report both).
"""
from __future__ import annotations

import numpy as np

from bench.measurement import Parity

REFERENCE = "state_dict eager model on the CPU"


def _ordered(a: np.ndarray) -> np.ndarray:
    """float32 bit patterns mapped to integers that sort like the floats (-0.0 == +0.0)."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def max_ulp(reference: np.ndarray, candidate: np.ndarray) -> int:
    """Largest ULP distance between matching float32 elements (0 means bit-exact)."""
    if reference.size == 0:
        return 0
    return int(np.max(np.abs(_ordered(reference) - _ordered(candidate))))


def compare_outputs(reference: object, candidate: object) -> tuple[float, int]:
    """(max_abs_error, max_ulp) of two arrays or tensors of the same shape, as float32."""
    ref = _as_array(reference)
    cand = _as_array(candidate)
    if ref.shape != cand.shape:
        raise ValueError(f"shape mismatch: reference {ref.shape} vs candidate {cand.shape}")
    if ref.size == 0:
        return 0.0, 0
    err = float(np.max(np.abs(ref.astype(np.float64) - cand.astype(np.float64))))
    return err, max_ulp(ref, cand)


def check_parity(reference: object, candidate: object, atol: float | None,
                 reference_name: str = REFERENCE) -> Parity:
    """A Parity verdict: bit-exact when atol is None, else max_abs_error <= atol."""
    err, ulp = compare_outputs(reference, candidate)
    if atol is None:
        return Parity(err, ulp, ulp == 0, "bit-exact", reference_name)
    return Parity(err, ulp, err <= atol, f"max_abs_error <= {atol:g}", reference_name)


def _as_array(x: object) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(x, dtype=np.float32)
