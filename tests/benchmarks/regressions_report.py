"""The README of a measure_regressions.py campaign, from what its folder holds: the summary the
main README quotes (its first table), the per-kind table, the true sizes and the wall times."""
from __future__ import annotations

import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGETS = (("inference", 1), ("inference", 1_000_000), ("train_epoch", 40))
TOLERANCE = 0.25                   # the reported excess must lie within +/-25% of the true excess
MIN_EXCESS = 0.05                  # below a 5% true change "within +/-25%" is not judged


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}x"


def summarize(out: Path, kinds: tuple[str, ...], null: str) -> tuple[list[dict[str, Any]], list[float]]:
    truth = {(r["kind"], f"{r['phase']}/{r['size']}"): r for r in read_jsonl(out / "truth.jsonl")}
    records = read_jsonl(out / "pairs.jsonl")
    table = []
    for kind in (*kinds, null):
        mine = [r for r in records if r["kind"] == kind]
        for phase, size in TARGETS:
            target = f"{phase}/{size}"
            t = truth.get((kind, target))
            rows = [r["rows"][target] for r in mine if target in r["rows"]]
            if not rows and t is None:
                continue
            ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
            true = t["ratio"] if t else 1.0 if kind == null else None
            median = statistics.median(ratios) if ratios else None
            judged = true is not None and abs(true - 1) >= MIN_EXCESS
            within = [abs((x - 1) - (true - 1)) <= TOLERANCE * abs(true - 1) for x in ratios] if judged else []
            table.append({
                "kind": kind, "target": target, "true": true,
                "true_iqr": [t["ratio_q1"], t["ratio_q3"]] if t else None,
                "pairs": len(rows), "flagged": sum(r["flagged"] for r in rows),
                "faster": sum(r["verdict"] == "faster" for r in rows),
                "verdicts": {v: sum(r["verdict"] == v for r in rows) for v in sorted({r["verdict"] for r in rows})},
                "reported_median": median, "reported_min": min(ratios) if ratios else None,
                "reported_max": max(ratios) if ratios else None,
                "median_within": (abs((median - 1) - (true - 1)) <= TOLERANCE * abs(true - 1))
                if judged and median is not None else None,
                "pairs_within": sum(within) if judged else None,
                "band": [1 + (true - 1) * (1 - TOLERANCE), 1 + (true - 1) * (1 + TOLERANCE)] if judged else None,
            })
    walls = [r[k] for r in records for k in ("base_wall_s", "new_wall_s") if r[k] is not None]
    return table, walls


def _compact(table: list[dict[str, Any]], kinds: tuple[str, ...], null: str) -> list[str]:
    """The summary the main README quotes (its first table): per kind and target, the true
    change, how many pairs the gate flagged slower (or faster for the speed-up), and the median
    reported ratio."""
    head = [f"{phase}/{size}" for phase, size in TARGETS]
    lines = ["In each cell: true change; pairs flagged (slower, or faster for `speedup`); median"
             " reported ratio.", "", "| kind | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for kind in (*kinds, null):
        cells = []
        for target in head:
            r = next((x for x in table if x["kind"] == kind and x["target"] == target), None)
            if r is None:
                cells.append("-")
                continue
            hits = r["faster"] if kind == "speedup" else r["flagged"]
            cells.append(f"{fmt_ratio(r['true'])}; {hits}/{r['pairs']}; {fmt_ratio(r['reported_median'])}")
        if any(c != "-" for c in cells):
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines + [""]


def _conditions(out: Path) -> list[str]:
    """OUT/conditions.md, the campaign's conditions as its runner wrote them, under a heading (a
    README written by this script would otherwise lose them at the next --analyze)."""
    path = out / "conditions.md"
    if not path.exists():
        return []
    return ["## Conditions of this series (read first)", "", *path.read_text().strip().splitlines(), ""]


def _last_run(out: Path) -> tuple[list[float] | str, str]:
    """(the load average at the end of the campaign's newest run, the runs' CPU model), from the
    runs themselves: an --analyze long after the campaign must not quote the load of its own day."""
    newest, load, cpus = "", "not recorded", set()
    for f in out.glob("runs/*/*/results.json"):
        doc = json.loads(f.read_text())
        cpus.add(str(doc.get("environment", {}).get("cpu_model", "?")))
        wall = f.parent / "wall_s.json"
        if str(doc.get("created_utc", "")) > newest and wall.exists():
            newest, load = str(doc.get("created_utc", "")), json.loads(wall.read_text()).get("load", load)
    return load, ", ".join(sorted(cpus)) or "?"


def _export_dir(out: Path, started: dict[str, Any]) -> str:
    """The campaign's export folder, as its command named it (--out DIR at the time)."""
    words = str(started.get("command", "")).split()
    return f"{words[words.index('--out') + 1]}/export" if "--out" in words[:-1] else rel(out / "export")


def write_readme(out: Path, started: dict[str, Any], kinds: tuple[str, ...], null: str,
                 bench_args: list[str], gate: str) -> None:
    table, walls = summarize(out, kinds, null)
    truth_rows = read_jsonl(out / "truth.jsonl")
    end_load, cpu = _last_run(out)
    lines = [
        "# Real regressions against the gate (issue 20, point 6)", "",
        "Generated by `tests/benchmarks/measure_regressions.py`. What each kind changes: "
        "`tests/plugins/regress_runtime/linreg_regress_runtime/effects.py`.", "",
        f"- command: `{started['command']}`",
        f"- commit: `{started['commit']}`" + (f"; gated again with `{started['gated_with']}` (`--analyze "
                                              "--regate`: the same runs, this checkout's compare; "
                                              "pairs.measured.jsonl keeps the first verdicts)"
                                              if started.get("gated_with") else ""),
        f"- date: {started['date']} (README written {datetime.now(timezone.utc).isoformat(timespec='seconds')})",
        f"- machine: {cpu}, `{started['uname']}`, nproc {started['nproc']}, python {platform.python_version()}",
        f"- load averages: at the start {started['load']}, at the end of the last run {end_load}",
        f"- bench: `python -m bench bench --export-dir {_export_dir(out, started)} --out RUN {' '.join(bench_args)}`, "
        f"BASE with LINREG_REGRESS unset, NEW with LINREG_REGRESS=KIND, order flipped every pair",
        f"- gate: `python -m bench compare BASE/results.json NEW/results.json --fail-on {gate} --json`; "
        "flagged = the row is among the gate's regressions",
        "- true: new/old, the median of alternating ~30 ms block pairs in one process (how many: the last table), the effect "
        "switched on and off in place (`tests/benchmarks/true_slowdown.py`), measured right before the kind's pairs; "
        "for `speedup` old is the unset state and new is faster",
        f"- within: the reported excess (ratio - 1) within +/-{TOLERANCE:.0%} of the true excess; not judged "
        f"where the true change is under {MIN_EXCESS:.0%}", "",
        *_compact(table, kinds, null),
        *_conditions(out),
        "| kind | measurement | true | flagged | faster | reported median [min, max] | band (+/-25%) | median within | pairs within | verdicts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        n = r["pairs"]
        band = f"{r['band'][0]:.3f}-{r['band'][1]:.3f}x" if r["band"] else "-"
        within = "-" if r["median_within"] is None else ("yes" if r["median_within"] else "**no**")
        pw = "-" if r["pairs_within"] is None else f"{r['pairs_within']}/{n}"
        rng = (f"{fmt_ratio(r['reported_median'])} [{fmt_ratio(r['reported_min'])}, {fmt_ratio(r['reported_max'])}]"
               if r["reported_median"] is not None else "-")
        verdicts = ", ".join(f"{v} {c}" for v, c in r["verdicts"].items()) or "-"
        true = fmt_ratio(r["true"]) + (f" [{r['true_iqr'][0]:.3f}, {r['true_iqr'][1]:.3f}]" if r["true_iqr"] else "")
        lines.append(f"| {r['kind']} | {r['target']} | {true} | {r['flagged']}/{n} | {r['faster']}/{n} | {rng} "
                     f"| {band} | {within} | {pw} | {verdicts} |")
    nulls = [r for r in table if r["kind"] == null]
    if nulls:
        lines += ["", "Null pairs (both sides unset), false alarms: " + ", ".join(
            f"{r['target']} {r['flagged']}/{r['pairs']}" for r in nulls) + "."]
    if walls:
        lines += ["", f"bench wall time per run: median {statistics.median(walls):.1f} s, "
                      f"min {min(walls):.1f} s, max {max(walls):.1f} s over {len(walls)} runs."]
    if truth_rows:
        repeats = any(t.get("repeats") for t in truth_rows)  # several processes each (the median kept)
        lines += ["", "True sizes (one process, old and new blocks alternating"
                  + ("; the median of fresh processes, each one's ratio in the last column" if repeats else "")
                  + "):", "",
                  "| kind | measurement | true | IQR of the pair ratios | old per call | new per call | pairs | load after |"
                  + (" processes |" if repeats else ""), "|---|---|---|---|---|---|---|---|" + ("---|" if repeats else "")]
        for t in truth_rows:
            lines.append(f"| {t['kind']} | {t['phase']}/{t['size']} | {t['ratio']:.3f}x | "
                         f"[{t['ratio_q1']:.3f}, {t['ratio_q3']:.3f}] | {t['old_median_s'] * 1e6:.2f} us | "
                         f"{t['new_median_s'] * 1e6:.2f} us | {t['pairs']} | {t.get('load_after')} |"
                         + (" " + ", ".join(f"{r:.3f}" for r in t.get("repeats") or [t["ratio"]]) + " |"
                            if repeats else ""))
    lines += ["", "Raw: `truth.jsonl` (one line per kind and size), `pairs.jsonl` (one line per pair: each "
                  "regress row's verdict, ratio, interval, p-value, medians), `runs/KIND/NN-{base,new}/` "
                  "(each bench run), `runs/KIND/NN-compare.json` (each gate).", ""]
    (out / "README.md").write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps({"table": table, "walls_s": walls}, indent=1))
    say(f"wrote {rel(out / 'README.md')}")
    print(json.dumps({"rows": [{k: r[k] for k in ("kind", "target", "true", "flagged", "pairs", "reported_median")}
                               for r in table]}), flush=True)
