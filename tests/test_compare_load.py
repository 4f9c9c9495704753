"""compare warns when the two runs saw a differently busy machine; --raw-medians spells --raw."""
from __future__ import annotations

from tests.test_compare import results_doc, run, write


def _doc(seed: int, start: float, end: float) -> dict:
    doc = results_doc(seed)
    doc["environment"]["loadavg_1m"] = {"start": start, "end": end}
    return doc


def test_a_load_a_core_apart_is_a_warning(tmp_path, capsys) -> None:
    base = write(tmp_path, "a.json", _doc(0, 0.5, 0.7))
    code, out, err = run(capsys, base, write(tmp_path, "b.json", _doc(1, 2.5, 1.0)))
    assert "LOAD DIFFERS: 1-minute load average up to 0.70 in BASE, 2.50 in NEW" in err
    code, out, err = run(capsys, base, write(tmp_path, "c.json", _doc(2, 0.9, 1.2)))
    assert "LOAD DIFFERS" not in err
    code, out, err = run(capsys, base, write(tmp_path, "d.json", results_doc(3)), "--raw-medians")
    assert code == 0 and "LOAD DIFFERS" not in err


def _with_draws(doc: dict, host_slow: float, own_slow: float, usable: bool = True,
                reference: str = "dispatch") -> dict:
    """A v3 document: 12 draws per measurement, each with its median and its host-normalised
    ratio. `host_slow` slows the workload and the companion's reference alike (the host's
    state); `own_slow` slows the workload alone (the measured process's own state)."""
    import numpy as np

    rng = np.random.default_rng(7)
    doc["schema_version"] = 3
    for m in doc["measurements"]:
        median = sorted(m["times_s"])[len(m["times_s"]) // 2]
        jitter = rng.lognormal(0.0, 0.01, 12)
        draws = [median * host_slow * own_slow * j for j in jitter]
        noise = rng.lognormal(0.0, 0.2, 12) if not usable else np.ones(12)  # a refused one is noisy
        ratios = [100.0 * own_slow * j * n for j, n in zip(jitter, noise)]
        m["times_s"] = [t * host_slow * own_slow for t in m["times_s"]]
        m["processes"] = [{"median_s": draws[0], "n_samples": 1,
                           "draws": [{"median_s": d, "n_samples": 1} for d in draws]}]
        m["estimate_s"] = sorted(draws)[6]
        m["estimate"] = {"method": "median of draw medians", "draw_medians_s": draws,
                         "host": {"reference": reference, "ratio": sorted(ratios)[6],
                                  "draw_ratios": ratios, "usable": usable, "tracking": "tracks"}}
    return doc


def test_the_gate_reads_host_ratios_within_one_environment_and_times_across(tmp_path, capsys) -> None:
    base = write(tmp_path, "a.json", _with_draws(results_doc(0), 1.0, 1.0))
    # NEW's host ran 30% slower all through: the ratios did not move, so nothing regressed
    code, out, err = run(capsys, base, write(tmp_path, "b.json", _with_draws(results_doc(0), 1.3, 1.0)))
    assert code == 0 and "no significant regression" in out and "host-normalised ratios" in out, out + err
    # the measured process itself got 30% slower (a thread, an allocator setting): it shows
    code, out, err = run(capsys, base, write(tmp_path, "c.json", _with_draws(results_doc(0), 1.0, 1.3)))
    assert code == 1 and "REGRESSION:" in err, out + err
    # a new torch whose dispatcher got 30% slower slows the companion's reference alike: across
    # environments the gate reads the draws' times, which show it
    doc = _with_draws(results_doc(0), 1.3, 1.0)
    doc["environment"]["versions"]["torch"] = "9.9.9"
    code, out, err = run(capsys, base, write(tmp_path, "d.json", doc))
    assert code == 1 and "ENVIRONMENTS DIFFER" in err and "REGRESSION:" in err, out + err
    assert "draw medians" in out
    # a reference the run refused (it added 20% noise) is not gated on: the draws' times are
    code, out, err = run(capsys, base, write(tmp_path, "e.json",
                                             _with_draws(results_doc(0), 1.3, 1.0, usable=False)))
    assert code == 1 and "draw medians" in out, out + err


def test_the_p_value_is_computed_on_the_measured_draws_never_on_rescaled_samples(tmp_path) -> None:
    import numpy as np

    from bench.compare.comparison import compare_files
    from bench.compare.files import load_bench_file
    from bench.compare.gate import MedianGate
    from bench.compare.significance import mann_whitney_u

    base = load_bench_file(write(tmp_path, "a.json", _with_draws(results_doc(0), 1.0, 1.0)))
    new_doc = _with_draws(results_doc(1), 1.0, 1.07)
    new = load_bench_file(write(tmp_path, "b.json", new_doc))
    c = compare_files(base, new, MedianGate.parse("median:5%"))
    row = next(r for r in c.rows if r.key == "inference/eager/cpu/1")
    ratios = next(m for m in new_doc["measurements"] if m["runtime"] == "eager" and m["batch_size"] == 1)
    assert row.figure == "host-normalised ratios"
    assert row.new.host_ratios == tuple(ratios["estimate"]["host"]["draw_ratios"])  # as measured
    assert row.stats.n_base == row.stats.n_new == 12  # draws, not the 20 samples of each run
    assert row.stats.p_value == mann_whitney_u(np.array(row.base.host_ratios), np.array(row.new.host_ratios))
    assert row.verdict == "slower" and 1.05 < row.stats.ratio < 1.09


def test_a_memory_bound_reference_needs_the_draws_times_to_agree(tmp_path, capsys) -> None:
    base = _with_draws(results_doc(0), 1.0, 1.0, reference="stream")
    # the ratios moved 12% (the companion's memory-bound reference drifted), the times did not
    new = _with_draws(results_doc(0), 1.0, 1.0, reference="stream")
    for m in new["measurements"]:
        m["estimate"]["host"]["draw_ratios"] = [r / 1.12 for r in m["estimate"]["host"]["draw_ratios"]]
    code, out, err = run(capsys, write(tmp_path, "a.json", base), write(tmp_path, "b.json", new),
                         "--fail-on", "median:5%")
    assert code == 0 and "not confirmed" in out, out + err
    assert "the reference's own time 1.120x" in out, out  # the disagreement, named
    # a real regression moves both: confirmed
    code, out, err = run(capsys, write(tmp_path, "a.json", base),
                         write(tmp_path, "c.json", _with_draws(results_doc(0), 1.0, 1.12, reference="stream")),
                         "--fail-on", "median:5%")
    assert code == 1 and "confirmed by the draws' times 1.120x" in out, out + err


def test_a_small_call_reference_decides_alone_whatever_the_host_did_to_the_times(tmp_path, capsys) -> None:
    # a real 12% slowdown measured while NEW's host ran 15% faster: the times went down, the
    # ratios up 12%. The small-call references track the host: the ratios decide
    base = write(tmp_path, "a.json", _with_draws(results_doc(0), 1.0, 1.0))
    code, out, err = run(capsys, base, write(tmp_path, "b.json", _with_draws(results_doc(0), 0.85, 1.12)),
                         "--fail-on", "median:5%")
    assert code == 1 and "host ratios; the draws' times 0.952x" in out, out + err


def test_the_times_confirm_the_direction_not_the_size(tmp_path, capsys) -> None:
    # a memory-bound reference: a real 12% slowdown measured while NEW's host ran 8% faster: the times moved +3%, the
    # ratios +12%. The times agree on the direction: slower (a host phase must not veto it)
    base = write(tmp_path, "a.json", _with_draws(results_doc(0), 1.0, 1.0, reference="stream"))
    code, out, err = run(capsys, base, write(tmp_path, "b.json", _with_draws(results_doc(0), 0.92, 1.12, reference="stream")),
                         "--fail-on", "median:5%")
    assert code == 1 and "confirmed by the draws' times 1.030x" in out, out + err
    # the same ratios while the times went the other way (host 15% faster): not confirmed
    code, out, err = run(capsys, base, write(tmp_path, "c.json", _with_draws(results_doc(0), 0.85, 1.12, reference="stream")),
                         "--fail-on", "median:5%")
    assert code == 0 and "but the draws' times 0.952x" in out and "not confirmed" in out, out + err
    assert "the reference's own time 0.850x (the host's speed, or the reference's drift" in out, out


def test_with_a_memory_bound_reference_the_ratios_decide_and_the_times_confirm(tmp_path, capsys) -> None:
    # a thread in the measured process: the times +40%, the ratios +12%. Significant on the
    # ratios and both beyond 5%: slower. With the ratios too noisy to be significant on their
    # own, the times' significance does not carry the verdict (host phases move the times)
    import numpy as np

    base = _with_draws(results_doc(0), 1.0, 1.0, reference="stream")
    for spread, expect in ((0.0, 1), (0.6, 0)):
        new = _with_draws(results_doc(0), 1.0, 1.4, reference="stream")
        rng = np.random.default_rng(3)
        for mb, mn in zip(base["measurements"], new["measurements"]):
            mn["estimate"]["host"]["draw_ratios"] = [r * 1.12 * f for r, f in zip(
                mb["estimate"]["host"]["draw_ratios"], rng.choice([1 - spread, 1.0, 1 + spread], 12))]
        code, out, err = run(capsys, write(tmp_path, "a.json", base), write(tmp_path, "b.json", new),
                             "--fail-on", "median:5%")
        assert code == expect, out + err
        assert ("confirmed by the draws' times 1.400x" in out) == bool(expect), out + err
        assert expect or "the host ratios not significant" in out, out + err


def test_a_file_that_refused_a_reference_with_small_spread_is_gated_on_its_ratios(tmp_path, capsys) -> None:
    # written before the small-spread rule: `usable: false` although the ratios spread 1%; the
    # whole NEW run sat in a 30% host slow phase, which the ratios cancel (results/spread)
    base = write(tmp_path, "a.json", _with_draws(results_doc(0), 1.0, 1.0))
    doc = _with_draws(results_doc(0), 1.3, 1.0)
    for m in doc["measurements"]:
        m["estimate"]["host"]["usable"] = False
    code, out, err = run(capsys, base, write(tmp_path, "b.json", doc))
    assert code == 0 and "host-normalised ratios" in out, out + err
