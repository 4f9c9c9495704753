"""The gate's two significance levels: p<0.01 on host ratios against a stable reference, p<0.002
on everything else (a memory-bound reference's ratios, draw medians, samples); --alpha sets one."""
from __future__ import annotations

import numpy as np
import pytest

from bench.compare.gate import DEFAULT_ALPHA, STABLE_HOST_ALPHA, GateSpecError, MedianGate
from tests.test_compare import results_doc, run, write
from tests.test_compare_load import _with_draws


def test_the_default_gate_has_two_levels_and_an_explicit_alpha_one() -> None:
    gate = MedianGate.parse("median:5%")
    assert (gate.alpha, gate.host_alpha) == (DEFAULT_ALPHA, STABLE_HOST_ALPHA) == (0.002, 0.01)
    assert gate.label == "median:5% at p<0.002 (p<0.01 on host ratios against a stable reference)"
    assert gate.at_host_level().alpha == 0.01
    one = MedianGate.parse("median:5%", alpha=0.002)
    assert one.host_alpha is None and one.at_host_level() is one and one.label == "median:5% at p<0.002"
    with pytest.raises(GateSpecError):
        MedianGate(threshold=0.05, host_alpha=1.5)


def _pair(reference: str) -> tuple[dict, dict]:
    """BASE and NEW whose host ratios moved 1.06x at p=0.0023 (12 draws a side, spread +/-6%),
    and whose times moved the same way."""
    base = _with_draws(results_doc(0), 1.0, 1.0, reference=reference)
    new = _with_draws(results_doc(0), 1.0, 1.06, reference=reference)
    ratios = 100.0 * np.linspace(0.94, 1.06, 12)
    for mb, mn in zip(base["measurements"], new["measurements"]):
        mb["estimate"]["host"]["draw_ratios"] = list(ratios)
        mn["estimate"]["host"]["draw_ratios"] = list(ratios * 1.06)
    return base, new


def test_host_ratios_against_a_stable_reference_are_judged_at_p_001(tmp_path, capsys) -> None:
    base, new = _pair("dispatch")
    files = write(tmp_path, "a.json", base), write(tmp_path, "b.json", new)
    code, out, err = run(capsys, *files, "--fail-on", "median:5%")
    assert code == 1 and "p=0.0023" in err and "(p<0.01 on host ratios" in out, out + err
    code, out, err = run(capsys, *files, "--fail-on", "median:5%", "--alpha", "0.002")
    assert code == 0 and "no significant regression" in out, out + err


def test_a_memory_bound_reference_keeps_p_0002(tmp_path, capsys) -> None:
    base, new = _pair("stream")
    code, out, err = run(capsys, write(tmp_path, "a.json", base), write(tmp_path, "b.json", new),
                         "--fail-on", "median:5%")
    assert code == 0 and "the host ratios not significant" in out, out + err
