"""The README's measured tables are generated from committed files (bench/report/readme.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.report.readme import ROOT, generate, markdown_table, regenerate


def test_every_generated_block_of_the_readme_matches_its_source() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    _, stale = regenerate(text)
    assert not stale, f"README blocks out of date (run `make readme`): {stale}"
    assert text.count("<!-- generated: ") >= 2


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
