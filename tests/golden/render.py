"""Render what users read from the golden results file: report.md and `compare` as text, Markdown, JSON.

The expected outputs live in tests/golden/rendered/ and test_golden_render.py diffs them byte for
byte, so a refactor of bench/ cannot change a report or a comparison by accident.
Regenerate only when an output deliberately changes: `python tests/golden/render.py`.

NEW is derived from the golden run deterministically (one slowdown, one speedup, one parity failure,
one lost and one new measurement), so every verdict kind the renderers know shows up.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "results_v1.json"
RENDERED = Path(__file__).parent / "rendered"


def new_from_golden(golden: dict) -> dict:
    """The golden run with a 1.5x slowdown, a 2x speedup, a parity failure, one lost and one new entry."""
    new = copy.deepcopy(golden)
    entries = new["measurements"]
    measured = [e for e in entries if "skip_reason" not in e]
    for e, factor in ((measured[0], 1.5), (measured[1], 0.5)):
        e["times_s"] = [t * factor for t in e["times_s"]]
        e["median_s"] *= factor
    failing = measured[2]
    failing["parity"] = {"max_abs_error": 0.25, "max_ulp": 9, "passed": False, "tolerance": "bit-exact",
                         "reference": "state_dict eager model on the CPU"}
    entries.remove(measured[3])  # BASE measured it, NEW lost it
    added = copy.deepcopy(measured[4])
    added["batch_size"] = 123
    entries.append(added)
    new["environment"]["versions"]["torch"] = "2.13.1"  # an environment difference, warned about
    return new


def render_all(work: Path) -> dict[str, str]:
    """{file name: text} of report.md and compare.txt/.md/.json, rendered from the golden file."""
    from bench.cli import main
    from bench.report import render_report

    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    out = {"report.md": render_report(golden, ["inference_latency.png", "inference_throughput.png",
                                               "train_epoch.png"])}
    (work / "base.json").write_text(json.dumps(golden), encoding="utf-8")
    (work / "new.json").write_text(json.dumps(new_from_golden(golden)), encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(work)  # relative paths, so the rendered text does not name a temporary folder
    try:
        for name, flags in (("compare.txt", []), ("compare.md", ["--markdown"]),
                            ("compare.json", ["--json"])):
            stdout, stderr = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(["compare", "base.json", "new.json", *flags])
            out[name] = stdout.getvalue() + f"--- stderr (exit {code}) ---\n" + stderr.getvalue()
    finally:
        os.chdir(cwd)
    return out


def main(argv: list[str]) -> int:
    import tempfile

    target = Path(argv[1]) if len(argv) > 1 else RENDERED
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in render_all(Path(tmp)).items():
            (target / name).write_text(text, encoding="utf-8")
            print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv))
