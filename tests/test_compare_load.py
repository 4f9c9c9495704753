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
