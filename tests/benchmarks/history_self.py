"""results/history-self/README.md from a backfilled store of this repository's own history.

    nice -n 19 .venv/bin/linreg-bench history backfill /tmp/self --commits A..B --max 16 --quick ...
    .venv/bin/python tests/benchmarks/history_self.py /tmp/self results/history-self \\
        --command "<the backfill command>" --explanations results/history-self/explanations.json

Writes OUT/README.md: the command, the harness commit, the date, the machine and its load, every
backfilled commit (its run or its failure record, and where its time went), every step the
history flags with compare's gate and, for each, what changed between the two commits (their git
log) and the explanation kept in the explanations file (keyed "<measurement> <new commit>"); a
step without one is printed as UNEXPLAINED. OUT/find.txt, when present, is quoted as the
transcript of a `history find` on one of the steps.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.compare.gate import MedianGate  # noqa: E402
from bench.history.analysis import analyze  # noqa: E402
from bench.history.runs import Run  # noqa: E402


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _commits_table(runs: list[Run], docs: dict[str, dict]) -> list[str]:
    lines = ["| # | commit | date | subject | outcome | s (checkout + its bench) |", "|---|---|---|---|---|---|"]
    for i, run in enumerate(runs):
        block = docs[run.run_id].get("backfill", {})
        outcome = f"failure record: {run.failure[:90]}" if run.failure else f"{len(run.points)} measurements"
        split = f"({block.get('worktree_s', '?')} + {block.get('bench_s', '?')})" if not run.failure else ""
        lines.append(f"| {i} | `{run.commit[:10]}` | {block.get('commit_date', '?')[:10]} | "
                     f"{run.subject[:60].replace('|', '/')} | {outcome} | {block.get('seconds', '?')} {split} |")
    return lines


def _time_lines(runs: list[Run], docs: dict[str, dict]) -> list[str]:
    blocks = [docs[r.run_id].get("backfill", {}) for r in runs]
    total = sum(b.get("seconds", 0) for b in blocks)
    ok = [b for b, r in zip(blocks, runs) if not r.failure]
    worktree = sum(b.get("worktree_s", 0) for b in ok)
    bench = sum(b.get("bench_s", 0) for b in ok)
    mean = statistics.fmean(b.get("seconds", 0) for b in ok) if ok else 0
    return [f"- {len(runs)} commits in {total / 60:.1f} min of runs ({mean:.0f} s per measured commit); "
            f"of the measured commits' time, {bench / max(total, 1e-9):.0%} is their own `bench` "
            f"(imports, export, timing) and {worktree / max(total, 1e-9):.0%} the worktree checkout; "
            f"failure records took {sum(b.get('seconds', 0) for b, r in zip(blocks, runs) if r.failure):.0f} s."]


def _step_lines(history, explanations: dict[str, str]) -> list[str]:
    if not history.steps:
        return ["No step was flagged."]
    out = []
    for s in sorted(history.steps, key=lambda s: history.commits.index(s.new.commit)):
        j = s.judgement
        ci = f" [{j.stats.ci_low:.3f}, {j.stats.ci_high:.3f}], p={j.stats.p_value:.2g}" if j.stats else ""
        between = _git("log", "--first-parent", "--format=%h %s", f"{s.base.commit}..{s.new.commit}").splitlines()
        key = f"{s.key} {s.new.commit[:10]}"
        out.append(f"### {s.label}: {j.ratio:.3f}x{ci}, {j.verdict}, `{s.base.commit[:10]}` -> `{s.new.commit[:10]}`")
        out.append("")
        out.append(f"**Why:** {explanations.get(key, 'UNEXPLAINED (no entry ' + repr(key) + ')')}")
        out.append("")
        out.append(f"<details><summary>the {len(between)} commits of this step</summary>")
        out.append("")
        out += [f"- {line[:150]}" for line in between]
        out.append("")
        out.append("</details>")
        out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--command", required=True, help="the backfill command, as it was run")
    p.add_argument("--explanations", type=Path)
    p.add_argument("--notes", type=Path, help="Markdown quoted after the steps: what the trends show")
    p.add_argument("--machine-note", default="shared with other jobs", help="what else ran on the machine")
    args = p.parse_args(argv)
    history = analyze(args.store, MedianGate.parse("median:10%"), ROOT)  # `history DIR`'s default gate
    explanations = json.loads(args.explanations.read_text()) if args.explanations else {}
    order = {c: i for i, c in enumerate(history.commits)}
    runs = sorted(history.store.runs, key=lambda r: (order[r.commit], r.created_utc))
    docs = {r.run_id: json.loads(r.path.read_text()) for r in runs}
    envs = [d["environment"] for d in docs.values() if d["measurements"]]
    loads = [v for e in envs for v in (e.get("loadavg_1m") or {}).values() if isinstance(v, (int, float))]
    machine = next(iter(history.store.machines.values()), {})
    lines = ["# This repository's own history, backfilled", "",
             "`linreg-bench history backfill` over this project's first-parent history (sampled), each "
             "commit's own `bench` run from a temporary worktree with one environment; then "
             "`history DIR --out SITE` on the store ([site/index.html](site/index.html), without `--repo`: "
             "the commits are ordered by the ancestry the runs record; [dashboard.png](dashboard.png), "
             "headless Chromium). The store is [store/](store/).", "",
             "```bash", args.command, "```", "",
             f"- harness commit: `{_git('rev-parse', 'HEAD')[:10]}`; written {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- machine: {machine.get('cpu_model') or envs[0].get('cpu_model')}, {os.cpu_count()} vCPUs "
             f"(the runs record {machine.get('cpu_count') or envs[0].get('cpu_count')} usable), {args.machine_note}",
             f"- load (1-minute average at the runs' starts and ends, where the commit's bench records it: "
             f"{sum(1 for e in envs if e.get('loadavg_1m'))} of {len(envs)} runs): {min(loads):.1f} to {max(loads):.1f}"
             if loads else "- load: not recorded",
             "", "## The commits", "", *_commits_table(runs, docs), "", "## Where the time went", "",
             *_time_lines(runs, docs), "", f"## The steps flagged ({history.gate.label})", "",
             *_step_lines(history, explanations), ""]
    if args.notes:
        lines += [args.notes.read_text().rstrip(), ""]
    find = args.out / "find.txt"
    if find.is_file():
        lines += ["## `history find` over the measured range", "", "```", find.read_text().rstrip(), "```", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "README.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'README.md'}: {len(runs)} runs, {len(history.steps)} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
