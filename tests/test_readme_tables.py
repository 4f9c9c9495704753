"""The README's measured tables are generated from committed files (bench/report/readme.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.report.readme import ROOT, documents, generate, main, markdown_table, regenerate


def test_every_generated_block_of_the_readme_matches_its_source() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    _, stale = regenerate(text)
    assert not stale, f"README blocks out of date (run `make readme`): {stale}"
    assert text.count("<!-- generated: ") >= 2


def test_every_series_record_is_current_and_every_series_has_one() -> None:
    records = documents()[:-1]
    # The committed series: folders of results/ with tracked files (results/latest of `make run` is ignored).
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    series = sorted({ROOT / "results" / line.split("/")[1] for line in tracked.stdout.splitlines()
                     if line.count("/") >= 2})
    missing = [s.name for s in series if not (s / "README.md").is_file()]
    assert not missing, f"results/<series>/ without its README.md record: {missing}"
    for record in records:
        _, stale = regenerate(record.read_text(encoding="utf-8"))
        assert not stale, f"{record.relative_to(ROOT)}: blocks out of date (run `make readme`): {stale}"
    assert main(["--check"]) == 0


def test_the_readme_quotes_no_timestamp_or_load() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert " UTC" not in text, "README.md quotes a UTC time"
    for word in ("earlier", "for the record", "load average", "(the target)", "not investigated"):
        assert word not in text.lower(), f"README.md says {word!r}"
    assert len(text.splitlines()) <= 700


def test_a_stale_block_is_found_and_rewritten(tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text("intro\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\ntext\n| c |\n|---|\n")
    text = "x\n<!-- generated: s.md#2 -->\n| old |\n<!-- /generated -->\ny\n"
    new, stale = regenerate(text, tmp_path)
    assert stale == ["s.md#2"] and "| c |\n|---|\n<!-- /generated -->" in new
    assert regenerate(new, tmp_path)[1] == []
    with pytest.raises(ValueError, match="has 2 table"):
        markdown_table(tmp_path / "s.md", 3)


def test_reference_tables_quote_the_measured_time() -> None:
    table = generate("reference-cpu inference")
    assert table.startswith("| | batch 1 |") and "ONNX Runtime (CPU)" in table


def test_loadgen_tables_are_read_from_the_committed_runs() -> None:
    table = generate("loadgen results/loadgen")
    assert "| `single-stream/` | single-stream |" in table and "INVALID" in table
    rounds = generate("loadgen-vs-bench results/loadgen/single-stream/vs-bench.json")
    assert rounds.count("\n") == 2 + 5
