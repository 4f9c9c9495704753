"""sweep.json, sweep.csv and summary.md: the trials, ranked, and what each setting does."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from bench.experiments.spec import TRAIN_KEYS, SweepSpec
from bench.experiments.trial import ranking_key
from linreg.files import write_json_atomic, write_text_atomic

SCHEMA = "linreg-bench/sweep"
SCHEMA_VERSION = 1
CSV_METRICS = ("final_train_loss", "final_test_loss", "weight", "bias", "abs_weight_error",
               "abs_bias_error", "epochs_to_target", "diverged_at_epoch", "train_time_s")


def sweep_document(spec: SweepSpec, records: list[dict[str, Any]], environment: dict[str, Any],
                   best: dict[str, Any] | None, last_run: dict[str, Any] | None = None) -> dict[str, Any]:
    """What sweep.json holds: the sweep's config, the machine, every trial without its curve, and
    where this invocation's time went (`last_run`, bench/experiments/timeline.py)."""
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "sweep": spec.as_json(),
        "fingerprint": environment,
        "git": environment.get("git"),
        "best": best["id"] if best else None,
        "last_run": last_run,
        "trials": [{k: v for k, v in r.items() if k != "history"} for r in records],
    }


def write_outputs(out: Path, spec: SweepSpec, records: list[dict[str, Any]],
                  environment: dict[str, Any], best: dict[str, Any] | None,
                  last_run: dict[str, Any] | None = None) -> None:
    write_json_atomic(out / "sweep.json", sweep_document(spec, records, environment, best, last_run))
    write_text_atomic(out / "sweep.csv", render_csv(records))
    write_text_atomic(out / "summary.md", render_summary(spec, records, best))


def outputs_are_current(out: Path, records: list[dict[str, Any]], best: dict[str, Any] | None,
                        plots: tuple[str, ...]) -> bool:
    """Whether `out` already holds the published outputs of exactly these trials: then a sweep
    with nothing to run writes nothing (its files stay byte-identical, no new machine stamp)."""
    from linreg.untrusted import UntrustedFileError, load_json

    names = ["sweep.csv", "summary.md", *plots] + (["best/model.pth", "best/train.json"] if best else [])
    if not all((out / name).is_file() for name in names):
        return False
    try:
        doc = load_json(out / "sweep.json")
    except UntrustedFileError:
        return False
    return (isinstance(doc, dict) and isinstance(doc.get("trials"), list)
            and [t.get("id") if isinstance(t, dict) else None for t in doc["trials"]] == [r["id"] for r in records]
            and doc.get("best") == (best["id"] if best else None))


def render_csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    columns = ["id", "status", *TRAIN_KEYS, *CSV_METRICS]
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({**{k: r["config"].get(k) for k in TRAIN_KEYS}, **r})
    return buffer.getvalue()


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _ranked_table(records: list[dict[str, Any]], varied: list[str]) -> list[str]:
    head = ["rank", "trial", *varied, "test loss", "train loss", "|w−0.7|", "|b−0.3|",
            "epochs to target", "time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ok = sorted((r for r in records if r["status"] == "ok"), key=ranking_key)
    for rank, r in enumerate(ok, start=1):
        cells = [str(rank), r["id"][:8], *(_fmt(r["config"][k]) for k in varied),
                 _fmt(r["final_test_loss"]), _fmt(r["final_train_loss"]), _fmt(r["abs_weight_error"]),
                 _fmt(r["abs_bias_error"]), _fmt(r["epochs_to_target"]), f"{r['train_time_s']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _effects(spec: SweepSpec, records: list[dict[str, Any]]) -> list[str]:
    """For each varied setting and value: best test loss, trials, and the fewest epochs to target."""
    lines = ["| setting | value | best test loss | finished / trials | fewest epochs to target |",
             "|---|---|---|---|---|"]
    for key, values in spec.grid.items():
        for value in values:
            group = [r for r in records if r["config"][key] == value]
            ok = [r for r in group if r["status"] == "ok"]
            best = min((r["final_test_loss"] for r in ok), default=math.nan)
            reached = [r["epochs_to_target"] for r in ok if r["epochs_to_target"] is not None]
            lines.append(f"| {key} | {_fmt(value)} | {_fmt(best) if ok else '—'} | "
                         f"{len(ok)} / {len(group)} | {min(reached) if reached else 'never'} |")
    return lines


def render_summary(spec: SweepSpec, records: list[dict[str, Any]], best: dict[str, Any] | None) -> str:
    varied = list(spec.grid)
    lines = ["# Sweep summary", ""]
    if best is None:
        lines += ["No trial finished: every one diverged or failed (see below).", ""]
    else:
        chosen = ", ".join(f"{k}={_fmt(best['config'][k])}" for k in varied)
        lines += [f"**Best:** {chosen}: test loss {best['final_test_loss']:.4g}, weight "
                  f"{best['weight']:.4f} (true 0.7), bias {best['bias']:.4f} (true 0.3). "
                  f"Its model is in `best/`.", ""]
        first = [r for r in records if r["status"] == "ok" and r["epochs_to_target"] is not None]
        if first:
            f = min(first, key=lambda r: (r["epochs_to_target"], r["id"]))
            chosen = ", ".join(f"{k}={_fmt(f['config'][k])}" for k in varied)
            lines += [f"**First to the true line** (test loss ≤ {spec.target_test_loss:g}): {chosen}, "
                      f"at epoch {f['epochs_to_target']}.", ""]
        else:
            lines += [f"No trial reached test loss ≤ {spec.target_test_loss:g}.", ""]
    lines += ["## How each setting moves the result", "", *_effects(spec, records), ""]
    lines += ["## Trials ranked by final test loss", "", *_ranked_table(records, varied), ""]
    bad = [r for r in records if r["status"] != "ok"]
    if bad:
        lines += ["## Diverged or failed", ""]
        for r in bad:
            chosen = ", ".join(f"{k}={_fmt(r['config'][k])}" for k in varied)
            lines.append(f"- {r['id'][:8]} ({chosen}): {r['status']}: {r.get('reason', '')}")
        lines.append("")
    fixed = ", ".join(f"{k}={_fmt(v)}" for k, v in spec.fixed.items()) or "train's defaults"
    lines += [f"Fixed for every trial: {fixed}. {len(records)} trials.", ""]
    return "\n".join(lines)
