"""Would a steadier witness call more real changes at 10^6? A re-analysis, no measurement.

With a memory-bound reference (`stream`, `ort-stream`, bench/compare/comparison.py `confirmed`)
the host ratios decide only where the draws' times moved the same way. Those times carry the
host's slow phases (up to 2x on the AMD VM), so a real change can be vetoed by a phase. The
candidate witness here: only the draws whose companion reference (fixed code, so the host's
state) was within TOL of the run's fastest reference draw, their median over the other run's.
For every committed pair gated on such a reference (the census's pairs, verdict_census.py),
this counts (shipped verdict, candidate verdict): real changes of 10% or more called the right
way, and false alarms among consecutive runs of one configuration.

    .venv/bin/python tests/benchmarks/witness_census.py 0.05 0.10 0.20 > results/verdicts/witness.txt
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import bench.compare.comparison as comparison  # noqa: E402  (compare_entry calls its `confirmed`)
import verdict_census as census  # noqa: E402  (tests/benchmarks)
from bench.compare.files import HOST_RATIOS  # noqa: E402
from bench.compare.gate import MedianGate, Verdict  # noqa: E402
from bench.compare.significance import ratio_of_medians  # noqa: E402
from bench.compare.witness import DRIFTING_REFERENCES  # noqa: E402
from host_state import host_fast_draws  # noqa: E402  (tests/benchmarks)
from records import short_commit  # noqa: E402

SHIPPED = comparison.confirmed
CALLS = ("slower", "faster")


def candidate(verdict: Verdict, stats: Any, b: Any, n: Any, gate: MedianGate, tol: float) -> str:
    """`confirmed`'s rule with the host-fast draws as the witness."""
    base, new = (np.asarray(host_fast_draws(e.draws_s, e.host_ratios, tol, at_least=3), dtype=float)
                 for e in (b, n))
    times = ratio_of_medians(base, new)
    limit = 1.0 + gate.threshold
    slower, faster = stats.ratio > limit and times > 1.0, stats.ratio < 1.0 / limit and times < 1.0
    if not (slower or faster):
        return "unresolved" if verdict in (Verdict.SLOWER, Verdict.FASTER, Verdict.INCONCLUSIVE) else str(verdict)
    if stats.p_value < gate.alpha:
        return "slower" if slower else "faster"
    return "inconclusive" if stats.min_p_value >= gate.alpha else "unresolved"


def census_of(tols: list[float]) -> tuple[dict[str, Counter], dict[str, Counter]]:
    log: list[tuple[str, str, tuple[str, ...]]] = []

    def recording(verdict, stats, figure, b, n, gate):  # type: ignore[no-untyped-def]
        shipped = SHIPPED(verdict, stats, figure, b, n, gate)
        if figure == HOST_RATIOS and b.host_reference in DRIFTING_REFERENCES:
            log.append((b.label, str(shipped[0]), tuple(candidate(verdict, stats, b, n, gate, t) for t in tols)))
        return shipped

    comparison.confirmed = recording
    gate = MedianGate.parse("median:5%")
    real: dict[str, Counter] = {"shipped": Counter(), **{f"{t}": Counter() for t in tols}}
    null: dict[str, Counter] = {"shipped": Counter(), **{f"{t}": Counter() for t in tols}}
    for _, kind, base, new, truth in census.regression_pairs():
        log.clear()
        census.gated(base, new, gate)
        for label, shipped, cands in log:
            true = census.big_change(truth, kind, label)
            if true is not None:
                right = "slower" if true > 1 else "faster"
                for name, said in zip(real, (shipped, *cands)):
                    real[name][said == right] += 1
    for files in census.null_series().values():
        for a, b in census.consecutive(files):
            log.clear()
            census.gated(a, b, gate)
            for _, shipped, cands in log:
                for name, said in zip(null, (shipped, *cands)):
                    null[name][said in CALLS] += 1
    return real, null


def main(argv: list[str]) -> int:
    tols = [float(a) for a in argv] or [0.10]
    real, null = census_of(tols)
    print(f"# witness_census.py {' '.join(argv)} at commit {short_commit()}: pairs gated on a"
          " memory-bound reference (all at 10^6 rows)")
    print("| witness | real changes >= 10% called | null pairs: false alarms |\n|---|---|---|")
    for name in real:
        label = "the draws' times (shipped)" if name == "shipped" else f"host-fast draws, within {float(name):.0%}"
        print(f"| {label} | {real[name][True]} of {sum(real[name].values())} | "
              f"{null[name][True]} of {sum(null[name].values())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
