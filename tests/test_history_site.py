"""The static dashboard: its content, no network, safe replacement; and a real headless browser (slow)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.history.site import SITE_MARKER
from tests.history_synthetic import make_store

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    store = make_store(root / "store", runs=15, measurements=4, machines=3, samples=12)
    (store / "laptop" / "20261101T000000Z_0_broken.json").write_text("{not json")
    assert main(["history", str(store), "--out", str(root / "site")]) == 0
    return root / "site"


def test_the_page_has_machines_latest_steps_and_one_figure_per_measurement(site: Path) -> None:
    page = (site / "index.html").read_text()
    for section in ('id="machines"', 'id="latest"', 'id="steps"', 'id="shared"', 'id="trends"',
                    'id="problems"'):
        assert section in page
    for machine in ("cpu-box", "h200-box", "laptop"):
        assert f"<td>{machine}</td>" in page
    figures = re.findall(r'<img src="([^"]+)"', page)
    assert len(figures) == 4 and all((site / f).is_file() for f in figures)
    assert {f.name for f in (site / "figures").iterdir()} == {Path(f).name for f in figures}
    assert "inference/eager/cpu/1" in page and "slower" in page  # the synthetic 20% step
    assert "20261101T000000Z_0_broken.json" in page              # the skipped file is reported
    shared = page[page.index('id="shared"'):page.index('id="trends"')]
    assert "<th>cpu-box</th><th>h200-box</th><th>laptop</th><th>fastest</th>" in shared
    assert shared.count("<tr>") == 1 + 4  # header + one row per measurement
    assert "<h3>inference</h3>" in page and "<h4>inference / eager</h4>" in page


def test_the_page_needs_no_network(site: Path) -> None:
    for path in [site / "index.html", *(site / "figures").iterdir()]:
        text = path.read_text()
        links = re.findall(r'(?:src|href)\s*=\s*"([^"#]+)"', text) + re.findall(r"url\(([^)]+)\)", text)
        assert not [u for u in links if re.match(r"(?:https?:)?//", u)], path
        assert "@import" not in text


def test_a_folder_that_is_not_a_site_is_never_replaced(site: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    store = site.parent / "store"
    mine = tmp_path / "docs"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    assert main(["history", str(store), "--out", str(mine)]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert (mine / "thesis.tex").read_text() == "keep me"
    rebuilt = tmp_path / "again"
    assert main(["history", str(store), "--out", str(rebuilt)]) == 0
    assert main(["history", str(store), "--out", str(rebuilt)]) == 0  # our own site: replaced
    assert (rebuilt / SITE_MARKER).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no build debris


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium: apt-get update && "
                                               "apt-get install -y chromium")
def test_headless_chromium_renders_the_dashboard(site: Path, tmp_path: Path) -> None:
    url = (site / "index.html").resolve().as_uri()
    flags = [chromium(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the page's own script counts the figures the browser decoded from file://
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-figures-loaded="4"' in body and 'data-figures-total="4"' in body, body
    assert "<table" in dom.stdout and "Flagged steps" in dom.stdout
    shot = tmp_path / "page.png"
    taken = subprocess.run([*flags, "--window-size=1280,1600", f"--screenshot={shot}", url],
                           capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1600)
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text, tables and figures, not a blank page
    # the machines' series colours (figures.machine_colors) are on screen
    rgb = {c for _, c in colors}
    assert {(31, 119, 180), (255, 127, 14), (44, 160, 44)} <= rgb
