"""Would more processes a run have flagged the 10^6 slowdowns? Two separate runs of each side of
results/regressions-layout pooled into one file (6 processes, 36 draws a side: the draws, their
host ratios and the samples concatenated, nothing rescaled) and gated with this checkout's
`compare --fail-on median:5%`, beside the single pairs gated the same way.

    .venv/bin/python tests/benchmarks/pool_runs.py memory allocator speedup > results/regressions-layout/pooled.txt

Pairs (0, 1), (2, 3), ... of a kind are pooled; prints each 10^6 verdict with its ratio, p and note.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = Path(__file__).resolve().parents[2] / "results" / "regressions-layout" / "runs"
KEY_END = "/1000000"


def pooled(a: Path, b: Path) -> dict:
    """Run a's file with run b's processes, draws, host ratios and samples appended."""
    doc, other = json.loads(a.read_text()), json.loads(b.read_text())
    for m, n in zip(doc["measurements"], other["measurements"], strict=True):
        assert (m["phase"], m["batch_size"]) == (n["phase"], n["batch_size"])
        m["times_s"] += n["times_s"]
        m["processes"] += n["processes"]
        e, f = m.get("estimate") or {}, n.get("estimate") or {}
        if e and f:
            e["draw_medians_s"] += f["draw_medians_s"]
            if e.get("host") and f.get("host"):
                e["host"]["draw_ratios"] += f["host"]["draw_ratios"]
                e["host"]["usable"] = bool(e["host"]["usable"] and f["host"]["usable"])
    return doc


def gate(base: Path, new: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "bench", "compare", str(base), str(new), "--fail-on",
                          "median:5%", "--json"], capture_output=True, text=True, check=False).stdout
    m = next(m for m in json.loads(out)["measurements"] if m["key"].endswith(KEY_END))
    return f"{m['verdict']} {m['ratio']:.3f}x p={m['p_value']:.1g}" + (f" ({m['note']})" if m["note"] else "")


def main() -> None:
    for kind in sys.argv[1:]:
        print(f"## {kind}, inference at 10^6")
        for k in range(10):
            print(f"single {k:02d}: " + gate(RUNS / kind / f"{k:02d}-base/results.json",
                                             RUNS / kind / f"{k:02d}-new/results.json"))
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(0, 10, 2):
                files = []
                for side in ("base", "new"):
                    f = Path(tmp) / f"{k}-{side}.json"
                    f.write_text(json.dumps(pooled(RUNS / kind / f"{k:02d}-{side}/results.json",
                                                   RUNS / kind / f"{k + 1:02d}-{side}/results.json")))
                    files.append(f)
                print(f"pooled {k:02d}+{k + 1:02d}: " + gate(*files))


if __name__ == "__main__":
    main()
