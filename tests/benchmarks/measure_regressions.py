"""Real regressions against the gate: separate `bench` processes, BASE without and NEW with LINREG_REGRESS.

Issue 20, point 6. The regress plug-in (tests/plugins/regress_runtime) gets slower (or faster)
by KIND: more Python work, more memory traffic, a GIL-holding thread, threads competing for the
cores, an allocator setting, a real speed-up (effects.py says what each one does and where it
applies). For each kind this script

1. measures the true size in one process (true_slowdown.py: ~60 alternating block pairs, the
   effect switched on and off in place), right before the kind's pairs, since the size of the
   process-wide kinds depends on how busy the host is;
2. runs --pairs pairs of separate `python -m bench bench` processes, BASE with LINREG_REGRESS
   unset and NEW with it set, the order flipped every pair, plus null pairs (both unset);
3. gates each pair with `python -m bench compare BASE NEW --fail-on median:5% --json`;
4. writes the per-pair rows (pairs.jsonl), the truths (truth.jsonl) and README.md: per kind and
   size the true ratio, how often the gate flagged it, the reported ratios, whether their excess
   is within +/-25% of the true excess, the null pairs' false alarms, and bench's wall time.

OUT/conditions.md, where there, goes into README.md as the series' conditions (what ran beside it,
what changed mid-way). Resumable: a run whose results.json exists, a gate whose JSON exists and a kind whose truth is in
truth.jsonl are kept (a warning says so when the plug-in changed since the folder was started). Run from anywhere; paths in the README are relative to the repository root.

    python tests/benchmarks/measure_regressions.py --out results/regressions              # everything
    python tests/benchmarks/measure_regressions.py --out /tmp/rg --pairs 1 --kinds python  # a smoke
    python tests/benchmarks/measure_regressions.py --out results/regressions --analyze     # README only
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench (its allocator settings) from this checkout
PLUGIN_SRC = ROOT / "tests" / "plugins" / "regress_runtime"
TRUTH_SCRIPT = Path(__file__).resolve().parent / "true_slowdown.py"
KINDS = ("python", "memory", "gil", "threads", "allocator", "speedup")  # as linreg_regress_runtime.KINDS
NULL = "null"                      # pairs with LINREG_REGRESS unset on both sides
TARGETS = (("inference", 1), ("inference", 1_000_000), ("train_epoch", 40))
GATE = "median:5%"
TOLERANCE = 0.25                   # the reported excess must lie within +/-25% of the true excess
MIN_EXCESS = 0.05                  # below a 5% true change "within +/-25%" is not judged
BENCH_ARGS = ["--devices", "cpu", "--runtimes", "regress", "--variants", "regress",
              "--batch-sizes", "1", "1000000", "--train-sizes", "40"]


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,),
        log: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if log is not None:
        log.write_text(done.stdout + ("\n--- stderr ---\n" + done.stderr if done.stderr else ""))
    if done.returncode not in ok:
        raise SystemExit(f"error: {' '.join(cmd)} exited {done.returncode}\n{done.stderr[-3000:]}")
    return done


# --- set-up: the model, its export, the plug-in ------------------------------------------------

def prepare(out: Path) -> None:
    """Train and export once (kept when there)."""
    if not (out / "train" / "model.pth").exists():
        say("training the tutorial model")
        run([sys.executable, "-m", "bench", "train", "--out", rel(out / "train")])
    if not (out / "export" / "manifest.json").exists():
        say("exporting it")
        run([sys.executable, "-m", "bench", "export", "--checkpoint", rel(out / "train" / "model.pth"),
             "--out", rel(out / "export")])


def _source_hash() -> str:
    h = hashlib.sha256()
    for f in sorted(PLUGIN_SRC.rglob("*")):
        if f.is_file() and "egg-info" not in str(f) and "__pycache__" not in str(f) and "build" not in f.parts:
            h.update(str(f.relative_to(PLUGIN_SRC)).encode() + f.read_bytes())
    return h.hexdigest()[:16]


def plugin_site(out: Path) -> Path | None:
    """None where the plug-in is installed already; else a --target folder to put on PYTHONPATH
    (installed again when tests/plugins/regress_runtime changed)."""
    from importlib import metadata

    if any(ep.name == "regress" for ep in metadata.entry_points(group="linreg_bench.variants")):
        return None
    site = out / "site"
    stamp = site / ".regress-source"
    if stamp.exists() and stamp.read_text() == _source_hash():
        return site
    say(f"installing the regress plug-in into {rel(site)}")
    shutil.rmtree(site, ignore_errors=True)
    src = out / "src" / "regress_runtime"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(site), str(src)])
    stamp.write_text(_source_hash())
    return site


def environment(site: Path | None, kind: str | None, worker: bool = False) -> dict[str, str]:
    """This environment, LINREG_REGRESS set to KIND (or unset), the plug-in on PYTHONPATH;
    worker: also the bench workers' allocator settings (what true_slowdown.py must run under)."""
    env = {k: v for k, v in os.environ.items() if k != "LINREG_REGRESS"}
    paths = [str(site)] if site else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if kind:
        env["LINREG_REGRESS"] = kind
    if worker:
        from bench.engine.allocator import ALLOCATOR_ENV

        env.update(ALLOCATOR_ENV)
    return env


# --- the measurements ---------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def measure_truth(out: Path, kind: str, site: Path | None, pairs: int) -> None:
    truth = out / "truth.jsonl"
    if any(r["kind"] == kind for r in read_jsonl(truth)):
        return
    say(f"{kind}: true size, {pairs} alternating block pairs per size in one process")
    part = out / f"truth-{kind}.jsonl"
    part.unlink(missing_ok=True)
    done = run([sys.executable, rel(TRUTH_SCRIPT), "--checkpoint", rel(out / "train" / "model.pth"),
                "--kinds", kind, "--pairs", str(pairs), "--json", rel(part)],
               env=environment(site, None, worker=True))
    print(done.stdout, end="", flush=True)
    rows = read_jsonl(part)
    load = os.getloadavg()
    with truth.open("a") as f:
        for r in rows:
            f.write(json.dumps({**r, "load_after": [round(x, 2) for x in load]}) + "\n")
    part.unlink()


def bench_run(out: Path, run_dir: Path, kind: str | None, site: Path | None) -> float | None:
    """One separate `bench` process (kept when its results.json exists); its wall time in s."""
    wall_file = run_dir / "wall_s.json"
    if (run_dir / "results.json").exists():
        return float(json.loads(wall_file.read_text())["wall_s"]) if wall_file.exists() else None
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    run([sys.executable, "-m", "bench", "bench", "--export-dir", rel(out / "export"), "--out", rel(run_dir),
         *BENCH_ARGS], env=environment(site, kind), log=run_dir.parent / f"{run_dir.name}.log")
    wall = round(time.perf_counter() - start, 2)
    wall_file.write_text(json.dumps({"wall_s": wall, "load": [round(x, 2) for x in os.getloadavg()]}))
    return wall


def gate(base: Path, new: Path, cache: Path) -> dict[str, Any]:
    """`compare BASE NEW --fail-on median:5% --json` (exit 1 on a regression is expected)."""
    if cache.exists():
        return json.loads(cache.read_text())
    done = run([sys.executable, "-m", "bench", "compare", rel(base / "results.json"), rel(new / "results.json"),
                "--fail-on", GATE, "--json"], ok=(0, 1))
    doc = json.loads(done.stdout)
    cache.write_text(json.dumps(doc, indent=1))
    return doc


def target_of(label: str) -> str | None:
    """"inference/1" etc. for the regress rows of a compare label, else None."""
    parts = label.split("/")
    if len(parts) >= 4 and parts[1] == "regress" and parts[2] == "cpu":
        return f"{parts[0]}/{parts[3]}"
    return None


def measure_pair(out: Path, kind: str, i: int, site: Path | None) -> dict[str, Any]:
    """Pair i of KIND: BASE (unset) and NEW (KIND; unset too for null pairs), order flipped by i."""
    pair_dir = out / "runs" / kind
    base_dir, new_dir = pair_dir / f"{i:02d}-base", pair_dir / f"{i:02d}-new"
    new_kind = None if kind == NULL else kind
    order = ("base", "new") if i % 2 == 0 else ("new", "base")
    walls: dict[str, float | None] = {}
    for side in order:
        walls[side] = bench_run(out, base_dir if side == "base" else new_dir, new_kind if side == "new" else None, site)
    doc = gate(base_dir, new_dir, pair_dir / f"{i:02d}-compare.json")
    flagged = set(doc.get("regressions", []))
    rows = {}
    for m in doc["measurements"]:
        target = target_of(m["label"])
        if target is None:
            continue
        rows[target] = {"label": m["label"], "verdict": m["verdict"], "flagged": m["label"] in flagged,
                        "ratio": m.get("ratio"), "ci_low": m.get("ci_low"), "ci_high": m.get("ci_high"),
                        "p_value": m.get("p_value"), "figure": m.get("figure"),
                        "base_median_s": (m.get("base") or {}).get("median_s"),
                        "new_median_s": (m.get("new") or {}).get("median_s")}
    return {"kind": kind, "pair": i, "order": "-".join(order), "base_wall_s": walls["base"],
            "new_wall_s": walls["new"], "exit_code": doc.get("exit_code"), "rows": rows}


# --- the summary --------------------------------------------------------------------------------

def _fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}x"


def summarize(out: Path) -> tuple[list[dict[str, Any]], list[float]]:
    truth = {(r["kind"], f"{r['phase']}/{r['size']}"): r for r in read_jsonl(out / "truth.jsonl")}
    records = read_jsonl(out / "pairs.jsonl")
    table = []
    for kind in (*KINDS, NULL):
        mine = [r for r in records if r["kind"] == kind]
        for phase, size in TARGETS:
            target = f"{phase}/{size}"
            t = truth.get((kind, target))
            rows = [r["rows"][target] for r in mine if target in r["rows"]]
            if not rows and t is None:
                continue
            ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
            true = t["ratio"] if t else 1.0 if kind == NULL else None
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


def _compact(table: list[dict[str, Any]]) -> list[str]:
    """The summary the main README quotes (its first table): per kind and target, the true
    change, how many pairs the gate flagged slower (or faster for the speed-up), and the median
    reported ratio."""
    head = [f"{phase}/{size}" for phase, size in TARGETS]
    lines = ["In each cell: true change; pairs flagged (slower, or faster for `speedup`); median"
             " reported ratio.", "", "| kind | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for kind in (*KINDS, NULL):
        cells = []
        for target in head:
            r = next((x for x in table if x["kind"] == kind and x["target"] == target), None)
            if r is None:
                cells.append("-")
                continue
            hits = r["faster"] if kind == "speedup" else r["flagged"]
            cells.append(f"{_fmt_ratio(r['true'])}; {hits}/{r['pairs']}; {_fmt_ratio(r['reported_median'])}")
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


def write_readme(out: Path, started: dict[str, Any]) -> None:
    table, walls = summarize(out)
    truth_rows = read_jsonl(out / "truth.jsonl")
    lines = [
        "# Real regressions against the gate (issue 20, point 6)", "",
        "Generated by `tests/benchmarks/measure_regressions.py`. What each kind changes: "
        "`tests/plugins/regress_runtime/linreg_regress_runtime/effects.py`.", "",
        f"- command: `{started['command']}`",
        f"- commit: `{started['commit']}`",
        f"- date: {started['date']} (README written {datetime.now(timezone.utc).isoformat(timespec='seconds')})",
        f"- machine: `{started['uname']}`, nproc {started['nproc']}, python {platform.python_version()}",
        f"- load averages: at the start {started['load']}, at the end {[round(x, 2) for x in os.getloadavg()]}",
        f"- bench: `python -m bench bench --export-dir {rel(out / 'export')} --out RUN {' '.join(BENCH_ARGS)}`, "
        f"BASE with LINREG_REGRESS unset, NEW with LINREG_REGRESS=KIND, order flipped every pair",
        f"- gate: `python -m bench compare BASE/results.json NEW/results.json --fail-on {GATE} --json`; "
        "flagged = the row is among the gate's regressions",
        "- true: new/old, the median of alternating ~30 ms block pairs in one process (how many: the last table), the effect "
        "switched on and off in place (`tests/benchmarks/true_slowdown.py`), measured right before the kind's pairs; "
        "for `speedup` old is the unset state and new is faster",
        f"- within: the reported excess (ratio - 1) within +/-{TOLERANCE:.0%} of the true excess; not judged "
        f"where the true change is under {MIN_EXCESS:.0%}", "",
        *_compact(table),
        *_conditions(out),
        "| kind | measurement | true | flagged | faster | reported median [min, max] | band (+/-25%) | median within | pairs within | verdicts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        n = r["pairs"]
        band = f"{r['band'][0]:.3f}-{r['band'][1]:.3f}x" if r["band"] else "-"
        within = "-" if r["median_within"] is None else ("yes" if r["median_within"] else "**no**")
        pw = "-" if r["pairs_within"] is None else f"{r['pairs_within']}/{n}"
        rng = (f"{_fmt_ratio(r['reported_median'])} [{_fmt_ratio(r['reported_min'])}, {_fmt_ratio(r['reported_max'])}]"
               if r["reported_median"] is not None else "-")
        verdicts = ", ".join(f"{v} {c}" for v, c in r["verdicts"].items()) or "-"
        true = _fmt_ratio(r["true"]) + (f" [{r['true_iqr'][0]:.3f}, {r['true_iqr'][1]:.3f}]" if r["true_iqr"] else "")
        lines.append(f"| {r['kind']} | {r['target']} | {true} | {r['flagged']}/{n} | {r['faster']}/{n} | {rng} "
                     f"| {band} | {within} | {pw} | {verdicts} |")
    nulls = [r for r in table if r["kind"] == NULL]
    if nulls:
        lines += ["", "Null pairs (both sides unset), false alarms: " + ", ".join(
            f"{r['target']} {r['flagged']}/{r['pairs']}" for r in nulls) + "."]
    if walls:
        lines += ["", f"bench wall time per run: median {statistics.median(walls):.1f} s, "
                      f"min {min(walls):.1f} s, max {max(walls):.1f} s over {len(walls)} runs."]
    if truth_rows:
        lines += ["", "True sizes (one process, old and new blocks alternating):", "",
                  "| kind | measurement | true | IQR of the pair ratios | old per call | new per call | pairs | load after |",
                  "|---|---|---|---|---|---|---|---|"]
        for t in truth_rows:
            lines.append(f"| {t['kind']} | {t['phase']}/{t['size']} | {t['ratio']:.3f}x | "
                         f"[{t['ratio_q1']:.3f}, {t['ratio_q3']:.3f}] | {t['old_median_s'] * 1e6:.2f} us | "
                         f"{t['new_median_s'] * 1e6:.2f} us | {t['pairs']} | {t.get('load_after')} |")
    lines += ["", "Raw: `truth.jsonl` (one line per kind and size), `pairs.jsonl` (one line per pair: each "
                  "regress row's verdict, ratio, interval, p-value, medians), `runs/KIND/NN-{base,new}/` "
                  "(each bench run), `runs/KIND/NN-compare.json` (each gate).", ""]
    (out / "README.md").write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps({"table": table, "walls_s": walls}, indent=1))
    say(f"wrote {rel(out / 'README.md')}")
    print(json.dumps({"rows": [{k: r[k] for k in ("kind", "target", "true", "flagged", "pairs", "reported_median")}
                               for r in table]}), flush=True)


def started_info(argv: list[str]) -> dict[str, Any]:
    return {
        "command": " ".join(["python", rel(Path(__file__)), *argv]),
        "commit": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip() or "unknown",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "uname": " ".join(platform.uname()),
        "nproc": os.cpu_count(),
        "load": [round(x, 2) for x in os.getloadavg()],
        "plugin": _source_hash(),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for everything (resumable)")
    p.add_argument("--pairs", type=int, default=10, help="bench pairs per kind, and null pairs (default 10)")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--no-null", action="store_true", help="skip the null pairs")
    p.add_argument("--truth-pairs", type=int, default=60, help="block pairs of each true size (default 60)")
    p.add_argument("--truth-only", action="store_true", help="measure the true sizes only")
    p.add_argument("--analyze", action="store_true", help="write README.md from what is there, run nothing")
    args = p.parse_args(argv)
    out = args.out if args.out.is_absolute() else (Path.cwd() / args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = out / "started.json"
    if not info.exists():  # a resumed campaign keeps its first start
        info.write_text(json.dumps(started_info(argv)))
    started = json.loads(info.read_text())
    if started.get("plugin") != _source_hash():
        say(f"warning: tests/plugins/regress_runtime changed since {rel(out)} was started: its truths "
            "and runs measured the older plug-in (start a fresh --out to measure this one)")
    if not args.analyze:
        prepare(out)
        site = plugin_site(out)
        done = {(r["kind"], r["pair"]) for r in read_jsonl(out / "pairs.jsonl")}
        for kind in [*args.kinds, *([] if args.no_null or args.truth_only else [NULL])]:
            if kind != NULL:
                measure_truth(out, kind, site, args.truth_pairs)  # right before its pairs: the
            if not args.truth_only:                               # host's load shapes some kinds
                for i in range(args.pairs):
                    if (kind, i) in done:
                        continue
                    say(f"{kind}: pair {i + 1}/{args.pairs}")
                    record = measure_pair(out, kind, i, site)
                    with (out / "pairs.jsonl").open("a") as f:
                        f.write(json.dumps(record) + "\n")
                    say("  " + "; ".join(f"{t} {r['verdict']} {_fmt_ratio(r['ratio'])}"
                                         f"{' FLAGGED' if r['flagged'] else ''}" for t, r in record["rows"].items())
                        + f"  (bench {record['base_wall_s']} s + {record['new_wall_s']} s)")
    write_readme(out, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
