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


def _with_estimates(doc: dict, factor: float, scale_s: float) -> dict:
    """Reference-ratio estimates: every ratio the same, the run's scale `scale_s` (x factor)."""
    for m in doc["measurements"]:
        median = sorted(m["times_s"])[len(m["times_s"]) // 2]
        m["estimate_s"] = median * factor
        m["estimate"] = {"method": "reference-ratio", "reference": "dispatch", "scale_s": scale_s}
    return doc


def test_estimates_compare_at_one_scale_only_within_one_environment(tmp_path, capsys) -> None:
    # NEW's host (or its calibration) ran the reference 30% slower; the ratios did not move
    base = write(tmp_path, "a.json", _with_estimates(results_doc(0), 1.0, 1e-6))
    same = write(tmp_path, "b.json", _with_estimates(results_doc(0), 1.3, 1.3e-6))
    code, out, err = run(capsys, base, same)
    assert code == 0 and "no significant regression" in out, out + err
    # a new torch whose dispatcher got 30% slower slows the reference alike: only the scale shows
    # it, so across environments the estimates compare as they are
    doc = _with_estimates(results_doc(0), 1.3, 1.3e-6)
    doc["environment"]["versions"]["torch"] = "9.9.9"
    code, out, err = run(capsys, base, write(tmp_path, "c.json", doc))
    assert code == 1 and "ENVIRONMENTS DIFFER" in err and "REGRESSION:" in err, out + err
