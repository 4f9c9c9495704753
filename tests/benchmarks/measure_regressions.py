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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import train_and_export  # noqa: E402
from regressions_report import fmt_ratio, read_jsonl, rel, say, write_readme  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench (its allocator settings) from this checkout
PLUGIN_SRC = ROOT / "tests" / "plugins" / "regress_runtime"
TRUTH_SCRIPT = Path(__file__).resolve().parent / "true_slowdown.py"
KINDS = ("python", "memory", "gil", "threads", "allocator", "speedup")  # as linreg_regress_runtime.KINDS
NULL = "null"                      # pairs with LINREG_REGRESS unset on both sides
GATE = "median:5%"
BENCH_ARGS = ["--devices", "cpu", "--runtimes", "regress", "--variants", "regress",
              "--batch-sizes", "1", "1000000", "--train-sizes", "40"]


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
    if not (out / "export" / "manifest.json").exists():
        say("training and exporting the tutorial model")
    train_and_export(out)


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

def measure_truth(out: Path, kind: str, site: Path | None, pairs: int, repeats: int = 1) -> None:
    """The kind's true size per measurement: true_slowdown.py in `repeats` fresh processes, the
    median one kept whole with every repeat's ratio (one process is one draw: results/gil-blocks)."""
    truth = out / "truth.jsonl"
    if any(r["kind"] == kind for r in read_jsonl(truth)):
        return
    say(f"{kind}: true size, {pairs} alternating block pairs per size in one process, {repeats}x")
    (part := out / f"truth-{kind}.jsonl").unlink(missing_ok=True)
    for _ in range(repeats):
        done = run([sys.executable, rel(TRUTH_SCRIPT), "--checkpoint", rel(out / "train" / "model.pth"),
                    "--kinds", kind, "--pairs", str(pairs), "--json", rel(part)],
                   env=environment(site, None, worker=True))
        print(done.stdout, end="", flush=True)
    by_target: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in read_jsonl(part):
        by_target.setdefault((r["phase"], r["size"]), []).append(r)
    load = os.getloadavg()
    with truth.open("a") as f:
        for rows in by_target.values():
            ranked = sorted(rows, key=lambda r: r["ratio"])
            kept = ranked[(len(ranked) - 1) // 2]  # the median repeat (the lower one of an even count)
            f.write(json.dumps({**kept, "repeats": [r["ratio"] for r in rows],
                                "load_after": [round(x, 2) for x in load]}) + "\n")
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
    base_dir, new_dir = pair_dirs(out, kind, i)
    new_kind = None if kind == NULL else kind
    order = ("base", "new") if i % 2 == 0 else ("new", "base")
    walls: dict[str, float | None] = {}
    for side in order:
        walls[side] = bench_run(out, base_dir if side == "base" else new_dir, new_kind if side == "new" else None, site)
    return {"kind": kind, "pair": i, "order": "-".join(order), "base_wall_s": walls["base"],
            "new_wall_s": walls["new"], **gate_pair(out, kind, i)}


def pair_dirs(out: Path, kind: str, i: int) -> tuple[Path, Path]:
    pair_dir = out / "runs" / kind
    return pair_dir / f"{i:02d}-base", pair_dir / f"{i:02d}-new"


def gate_pair(out: Path, kind: str, i: int) -> dict[str, Any]:
    """{exit_code, rows}: pair i of KIND gated by this checkout's `compare` (cached in its JSON)."""
    base_dir, new_dir = pair_dirs(out, kind, i)
    doc = gate(base_dir, new_dir, out / "runs" / kind / f"{i:02d}-compare.json")
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
    return {"exit_code": doc.get("exit_code"), "rows": rows}


def regate(out: Path) -> str:
    """Gate every stored pair again with this checkout's `compare` (the runs are not touched):
    pairs.jsonl gets the new verdicts, pairs.measured.jsonl keeps the ones made when measured."""
    records = read_jsonl(out / "pairs.jsonl")
    kept = out / "pairs.measured.jsonl"
    if not kept.exists():
        shutil.copyfile(out / "pairs.jsonl", kept)
    for r in records:
        (out / "runs" / r["kind"] / f"{r['pair']:02d}-compare.json").unlink(missing_ok=True)
        r.update(gate_pair(out, r["kind"], r["pair"]))
    (out / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return git_commit()


def git_commit() -> str:
    return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() or "unknown"


def started_info(argv: list[str]) -> dict[str, Any]:
    return {
        "command": " ".join(["python", rel(Path(__file__)), *argv]),
        "commit": git_commit(),
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
    p.add_argument("--truth-repeats", type=int, default=3,
                   help="fresh processes per true size, the median kept (default 3)")
    p.add_argument("--truth-only", action="store_true", help="measure the true sizes only")
    p.add_argument("--analyze", action="store_true", help="write README.md from what is there, run nothing")
    p.add_argument("--regate", action="store_true",
                   help="with --analyze: gate the stored pairs again with this checkout's compare")
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
    if args.analyze and args.regate:
        started["gated_with"] = regate(out)
        info.write_text(json.dumps(started))
    if not args.analyze:
        prepare(out)
        site = plugin_site(out)
        done = {(r["kind"], r["pair"]) for r in read_jsonl(out / "pairs.jsonl")}
        for kind in [*args.kinds, *([] if args.no_null or args.truth_only else [NULL])]:
            if kind != NULL:
                measure_truth(out, kind, site, args.truth_pairs, args.truth_repeats)  # right before its pairs: the
            if not args.truth_only:                               # host's load shapes some kinds
                for i in range(args.pairs):
                    if (kind, i) in done:
                        continue
                    say(f"{kind}: pair {i + 1}/{args.pairs}")
                    record = measure_pair(out, kind, i, site)
                    with (out / "pairs.jsonl").open("a") as f:
                        f.write(json.dumps(record) + "\n")
                    say("  " + "; ".join(f"{t} {r['verdict']} {fmt_ratio(r['ratio'])}"
                                         f"{' FLAGGED' if r['flagged'] else ''}" for t, r in record["rows"].items())
                        + f"  (bench {record['base_wall_s']} s + {record['new_wall_s']} s)")
    write_readme(out, started, KINDS, NULL, BENCH_ARGS, GATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
