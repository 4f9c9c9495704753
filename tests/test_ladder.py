"""The reference ladder (bench/engine/ladder.py) and the answer's host-normalised ranking.

The ladder is measured for real in a companion (its shape and rounds; no timed assertion); the
ranking is checked on entries built here, each with the fields a run writes."""
from __future__ import annotations

import math

import pytest

from bench.engine.ladder import ANCHOR, KINDS, ladder_scales, measure_ladder
from bench.engine.timing import QUICK_TIMING
from bench.report.answer import answer_lines, outcome


def test_the_ladder_times_every_reference_in_every_round() -> None:
    ladder = measure_ladder(1, QUICK_TIMING, rounds=3)
    assert ladder["anchor"] == ANCHOR and ladder["threads"] == 1 and ladder["rounds"] == 3
    assert set(ladder["times_s"]) == set(KINDS)
    assert all(len(t) == 3 and all(s > 0 for s in t) for t in ladder["times_s"].values())
    scales = ladder_scales(ladder)
    assert scales[ANCHOR] == (1.0, 1.0, 1.0) and set(scales) == set(KINDS)
    assert all(low <= mid <= high for mid, low, high in scales.values())


def test_scales_are_per_round_ratios_and_a_bad_ladder_is_none() -> None:
    ladder = {"anchor": "dispatch", "threads": 1,
              "times_s": {"dispatch": [10.0, 20.0, 10.0], "ort": [1.0, 2.2, 1.1]}}
    # each round's own ratio (0.10, 0.11, 0.11): a slow round (20 and 2.2) moves both; 3
    # rounds cannot bound the median at 95%: the interval is their lowest and highest
    assert ladder_scales(ladder)["ort"] == pytest.approx((0.11, 0.10, 0.11))
    for bad in (None, [], {"times_s": []}, {"times_s": {"dispatch": [0.0]}},
                {"times_s": {"dispatch": [True]}}, {"times_s": {"dispatch": ["1"]}}):
        assert ladder_scales(bad) == {}
    short = {"times_s": {"dispatch": [1.0, 1.0], "ort": [1.0]}}  # a kind without every round
    assert "ort" not in ladder_scales(short)


def _entry(runtime: str, est: float, low: float, high: float, kind: str, ratio: float,
           ratio_low: float, ratio_high: float, usable: bool = True) -> dict:
    """An entry as a run writes it: its fast-state time and interval, and its host ratio."""
    return {"phase": "inference", "runtime": runtime, "device": "cpu", "batch_size": 1, "threads": 1,
            "times_s": [est], "median_s": est, "estimate_s": est,
            "estimate": {"interval_s": [low, high], "method": "median of draw medians", "draws": 18,
                         "host": {"reference": kind, "ratio": ratio, "usable": usable,
                                  "interval": [ratio_low, ratio_high]}}}


# One make run's batch 1 (AMD EPYC VM, 2026-12-07): the draws spread 2x, so the times' intervals overlap;
# the host ratios held within 3%. The ladder: ort's reference takes 0.107x dispatch's.
LADDER = {"anchor": "dispatch", "threads": 1,
          "times_s": {"dispatch": [33.7e-6, 50.1e-6, 34.0e-6], "ort": [3.6e-6, 5.4e-6, 3.7e-6]}}
EAGER = _entry("eager", 13.38e-6, 9.65e-6, 14.21e-6, "dispatch", 0.248, 0.2441, 0.2639)
ORT = _entry("onnxruntime", 8.60e-6, 5.02e-6, 9.58e-6, "ort", 1.460, 1.4395, 1.4912)
MODE = _entry("inference_mode", 11.45e-6, 6.97e-6, 12.73e-6, "dispatch", 0.2133, 0.2087, 0.2205)


def test_a_host_phase_cannot_make_a_tie_of_a_clear_winner() -> None:
    assert outcome([EAGER, ORT, MODE])[0] == ("onnxruntime", "inference_mode")  # on times: a tie
    who, how = outcome([EAGER, ORT, MODE], LADDER)
    assert who == ("onnxruntime",)
    # inference_mode's 0.2133 x 1 against ORT's 1.460 x 0.1078 (the median of the rounds'
    # ratios 0.1068, 0.1078, 0.1088)
    expected = 0.2133 / (1.460 * 5.4 / 50.1)
    assert how.startswith(f"{expected:.2f}x inference_mode (the runner-up, host-normalised) [")


def test_one_reference_compares_on_its_ratios_alone() -> None:
    who, how = outcome([EAGER, MODE], LADDER)
    # 0.248 / 0.2133, its interval the host intervals' far ends: no ladder spread added
    assert who == ("inference_mode",)
    assert how == (f"{0.248 / 0.2133:.2f}x eager (the runner-up, host-normalised) "
                   f"[{0.2441 / 0.2205:.2f}, {0.2639 / 0.2087:.2f}]")


def test_without_a_tracking_ratio_or_a_ladder_the_times_decide() -> None:
    untracked = {**MODE, "estimate": {**MODE["estimate"], "host": {**MODE["estimate"]["host"], "usable": False}}}
    assert outcome([EAGER, ORT, untracked], LADDER)[0] == ("onnxruntime", "inference_mode")
    stream = _entry("eager", 1e-3, 0.9e-3, 1.1e-3, "stream", 1.0, 0.9, 1.1)
    other = {**stream, "runtime": "onnxruntime", "threads": 2}  # the ladder is at 1 thread
    assert "host-normalised" not in outcome([stream, other], {**LADDER, "times_s": {
        **LADDER["times_s"], "stream": [1e-3, 1e-3, 1e-3]}})[1]


def test_the_answer_says_which_figure_ranked_the_runtimes() -> None:
    text = "\n".join(answer_lines([EAGER, ORT, MODE], ladder=LADDER))
    assert "**onnxruntime** is fastest" in text and "host-normalised" in text
    assert "`inference/onnxruntime/cpu/1`: 8.60 µs" in text  # the times shown stay measured times
    assert not math.isnan(float(text.split("fastest, ")[1].split("x")[0]))


def test_a_strangers_ladder_never_crashes_the_answer() -> None:
    """ladder_scales and the ranking read results files from anyone: any JSON value in the
    ladder (or in an entry's host block) ranks or falls back, never raises."""
    from hypothesis import given, strategies as st

    from tests.test_fuzz import json_values

    @given(ladder=st.one_of(json_values, st.fixed_dictionaries(
               {"anchor": json_values, "threads": json_values,
                "times_s": st.dictionaries(st.sampled_from(["dispatch", "ort", "x"]), json_values)})),
           host=json_values)
    def check(ladder, host) -> None:
        scales = ladder_scales(ladder)
        assert all(isinstance(v, tuple) and len(v) == 3 for v in scales.values())
        odd = {**ORT, "estimate": {**ORT["estimate"], "host": host}}
        who, _ = outcome([EAGER, odd, MODE], ladder)
        assert who and set(who) <= {"eager", "onnxruntime", "inference_mode"}
    check()
