"""report.md and `compare` (text, Markdown, JSON) rendered from the golden run stay byte for byte the same."""
from __future__ import annotations

from pathlib import Path

import pytest

from golden.render import RENDERED, render_all


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render_all(tmp_path_factory.mktemp("render"))


@pytest.mark.parametrize("name", ["report.md", "compare.txt", "compare.md", "compare.json"])
def test_rendered_output_is_unchanged(rendered: dict[str, str], name: str) -> None:
    expected = (RENDERED / name).read_text(encoding="utf-8")
    assert rendered[name] == expected, (
        f"{name} differs from tests/golden/rendered/{name}; if the change is deliberate, "
        f"run `python tests/golden/render.py` and commit the diff")
