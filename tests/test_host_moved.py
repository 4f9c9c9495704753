"""How far the host moved during a measurement: the companion reference's quartile ratio over the
draws, in results.json, in the "unstable" warning's cause and beside each published time."""
from __future__ import annotations

import pytest

from bench.engine.combine import combine
from bench.engine.estimate import QUIET_HOST, Draw, estimate, host_moved
from bench.engine.measurement import Measurement, Spec
from bench.report.answer import answer_lines


def _draw(median_s: float, reference_s: float) -> Draw:
    ratio = median_s / reference_s
    return Draw(median_s, reference_s, ratio, (ratio,) * 4, (median_s,) * 4)


def test_host_moved_is_the_references_third_over_first_quartile() -> None:
    # six draws, the reference at 1 us in three and at 2 us in three: q1 1 us, q3 2 us
    assert host_moved([1e-6, 2e-6, 1e-6, 2e-6, 1e-6, 2e-6]) == pytest.approx(2.0)
    assert host_moved([3e-6] * 5) == pytest.approx(1.0)
    assert host_moved([1e-6, 2e-6, 3e-6]) is None           # under 4 draws: no quartiles to speak of
    assert host_moved([1e-6, 2e-6, 0.0, 3e-6]) is None      # a draw without its reference
    # in the estimate, beside the ratio: the workload moved with the host, the ratio did not
    draws = [_draw(1e-4 * f, 1e-6 * f) for f in (1.0, 1.0, 1.6, 1.6, 1.0, 1.6)]
    host = estimate(draws, reference="dispatch")["host"]
    assert host["host_moved"] == pytest.approx(1.6) and host["ratio"] == pytest.approx(100.0)
    assert estimate(draws)["host"] is None                  # no reference named: nothing to say


def _process(wobble: tuple[float, ...], references: tuple[float, float]) -> Measurement:
    """One worker process of two rounds, each round's blocks paired with reference blocks."""
    spec = Spec("inference", "eager", "cpu", 1)
    rounds = []
    for ref in references:
        times = [1e-5 * w * ref / 1e-6 for w in wobble]
        rounds.append({"times_s": times, "reference": {
            "kind": "dispatch", "median_s": ref, "ratio": sorted(times)[len(times) // 2] / ref,
            "times_s": [ref] * len(times)}})
    return Measurement(spec, tuple(t for r in rounds for t in r["times_s"]), extra={"rounds": rounds})


def _unstable(m: Measurement) -> str:
    return next(w for w in m.warnings if w.startswith("unstable: IQR is "))


def test_the_unstable_warning_names_the_host_or_the_workload() -> None:
    wobble = (1.0, 1.0, 1.5, 1.5, 1.0, 1.5)                 # the workload's own 50% spread
    still = combine([_process(wobble, (1e-6, 1e-6)) for _ in range(3)])
    assert still.extra["estimate"]["host"]["host_moved"] == pytest.approx(1.0)
    assert _unstable(still).endswith("the host held still across the draws (its fixed reference"
                                     " within 10%): not the host's slow phases")
    moved = combine([_process((1.0,) * 6, (1e-6, 2e-6)) for _ in range(3)])  # half the draws 2x slow
    assert moved.extra["estimate"]["host"]["host_moved"] == pytest.approx(2.0)
    assert "; the host moved 2.00x meanwhile (the companion's fixed reference" in _unstable(moved)
    steady = combine([_process((1.0,) * 6, (1e-6, 1e-6)) for _ in range(3)])
    assert not any(w.startswith("unstable") for w in steady.warnings)  # nothing to explain


def _entry(runtime: str, moved: float | None) -> dict:
    host = {"reference": "dispatch", "ratio": 5.0, "host_moved": moved} if moved else None
    return {"phase": "inference", "runtime": runtime, "device": "cpu", "batch_size": 1,
            "times_s": [8e-6, 9e-6, 10e-6], "median_s": 9e-6, "estimate_s": 8e-6,
            "estimate": {"method": "first quartile of draw medians", "interval_s": [7.5e-6, 8.5e-6],
                         "draws": 18, "host": host}}


def test_each_published_time_stands_beside_its_raw_median_and_the_hosts_state() -> None:
    lines = answer_lines([_entry("eager", 1.45), _entry("inference_mode", 1.04), _entry("torchscript", None)])
    listed = {line.split("`")[1]: line for line in lines if line.startswith("- `")}
    assert listed["inference/eager/cpu/1"].endswith("(18 draws; raw median 9.00 µs; the host moved 1.45x)")
    assert listed["inference/inference_mode/cpu/1"].endswith("(18 draws; raw median 9.00 µs; the host held still)")
    assert listed["inference/torchscript/cpu/1"].endswith("(18 draws; raw median 9.00 µs)")
    assert QUIET_HOST == 1.10 and any(f"within {QUIET_HOST - 1:.0%}: held still" in line for line in lines)


def test_the_reports_first_line_counts_the_measurements_made_while_the_host_moved() -> None:
    from bench.report.markdown import render_report

    entries = [_entry("eager", 1.45), _entry("inference_mode", 1.04), _entry("torchscript", None)]
    first = render_report({"schema_version": 3, "measurements": entries}).splitlines()[2]
    assert first.endswith("The host moved more than 10% during 1 of 2 measurements (their companion's"
                          " fixed reference): there the raw median holds slow phases, and the"
                          " published time is the fast state.")
    plain = render_report({"schema_version": 3, "measurements": [_entry("torchscript", None)]})
    assert "The host moved" not in plain  # files without it say nothing of it
    hostile = render_report({"schema_version": 3, "measurements": [_entry("eager", True)]})
    assert "The host moved" not in hostile and "the host held still" not in hostile  # a bool is no ratio
