"""`linreg-bench ddp` end to end: parity references, one torchrun launch per world size, records,
results.json/csv, the plots and report.md, written again after every world size so an
interrupted run keeps what it finished.
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.distributed.config import DdpConfig
from bench.distributed.launcher import launch
from bench.distributed.parity import DDP_PARITY_ATOL, reference_parameters
from bench.distributed.records import host_extra, outcome_records, plan_skip_reason, spec_of, with_scaling
from bench.engine.allocator import ALLOCATOR_ENV
from bench.engine.interrupt import interruption_reason
from bench.engine.measurement import Measurement
from bench.engine.timing import skipped
from bench.report import write_outputs
from bench.store.fingerprint import fingerprint
from bench.store.identity import new_run_id
from bench.store.results import load_results, write_results
from linreg.destinations import claim_folder, json_record_is_ours
from linreg.errors import LinregError

RUN_DIR = ".ddp-run"   # job and status files of the launch in progress (removed at the end)
LOG_DIR = "logs"       # torchrun's output per world size, kept next to the results


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# A ddp folder from before OWNER_MARKER: its results.json says it is ours.
DDP_RECORD = json_record_is_ours("results.json", ("schema_version", "measurements"))


def prepare_out(out: Path) -> None:
    claim_folder(out, "ddp", DDP_RECORD)  # a user's folder is refused before any rank starts
    try:
        (out / LOG_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinregError(f"cannot create --out {out} ({exc.strerror})") from None


def run_config(config: DdpConfig) -> dict[str, Any]:
    return {**config.to_json(), "pipeline": "ddp", "launcher": "torch.distributed.run (torchrun)",
            "parity_atol": DDP_PARITY_ATOL,
            "allreduce_timing": "DDP comm hook around torch's allreduce_hook (launch to completion, "
                                "mean over ranks); also an isolated all_reduce of the bucket's size"}


def write_all(out: Path, config: DdpConfig, records: list[Measurement], final: bool,
              run_id: str | None = None, partial: str | None = None) -> dict[str, Any]:
    """results.json/csv (always), plots and report.md (at the end); returns the loaded results.
    `partial`: why the run stopped early (an interrupt), marked as bench marks its partial runs."""
    devices = [f"cuda:{i}" for i in range(config.gpu_count)] if config.device == "cuda" else ["cpu"]
    environment = fingerprint(config.threads, dict(ALLOCATOR_ENV), devices)
    sections = {"partial": True, "partial_reason": partial} if partial else None
    path = write_results(out, environment, run_config(config), {}, with_scaling(records), run_id,
                         sections=sections)
    results = load_results(path)
    if final:
        write_outputs(results, out)  # the report's writers: plots, ddp_scaling.png, report.md
    return results


def _progress_line(records: list[Measurement]) -> str:
    parts = []
    for m in records:
        n = m.spec.batch_size
        if m.skipped:
            parts.append(f"N={n}: {m.skip_reason}")
        else:
            share = m.extra.get("allreduce_share")
            verdict = "parity PASS" if m.parity and m.parity.passed else "parity FAIL"
            parts.append(f"N={n}: {m.median_s * 1e3:.3g} ms/epoch, all-reduce "
                         f"{'–' if share is None else f'{share:.0%}'}, {verdict}")
    return "; ".join(parts)


class References(dict):  # type: ignore[type-arg]
    """N -> the single-process loop's final parameters, computed when first needed."""

    def __init__(self, config: DdpConfig) -> None:
        super().__init__()
        self.config = config

    def __missing__(self, n: int) -> list[float]:
        self[n] = reference_parameters(n, self.config.total_epochs, self.config.threads)
        return self[n]


def run_scaling(config: DdpConfig, out: Path) -> dict[str, Any]:
    """Measure every world size into `out`; returns the results document."""
    prepare_out(out)
    start = time.monotonic()
    say(f"ddp: world sizes {' '.join(map(str, config.world_sizes))} at N "
        f"{' '.join(map(str, config.sizes))}, {config.resolved_backend} on {config.device}, "
        f"{config.threads} thread(s) per rank")
    references = References(config)
    records: list[Measurement] = []
    run_id = new_run_id()  # one run, however often its results.json is rewritten
    partial: str | None = None
    try:
        for k in config.world_sizes:
            reasons = {n: plan_skip_reason(config, k, n) for n in config.sizes}
            records += [skipped(spec_of(config, k, n), r) for n, r in reasons.items() if r]
            runnable = [n for n, r in reasons.items() if r is None]
            if not runnable:
                continue
            extra = host_extra(config, k)
            try:
                outcome = launch(config, k, runnable, out / RUN_DIR / f"ws{k}", out / LOG_DIR / f"ws{k}.log")
            except KeyboardInterrupt as exc:
                records += [skipped(spec_of(config, k, n), f"failed: world size {k}: interrupted "
                                    "(Ctrl-C); the job was ended", failed=True, **extra) for n in runnable]
                partial = f"{interruption_reason(exc)} at world size {k}"
                raise
            done = outcome_records(config, outcome, runnable, references, extra)
            records += done
            say(f"ddp: world size {k} ({outcome.wall_s:.1f} s): {_progress_line(done)}")
            write_all(out, config, records, final=False, run_id=run_id)
    finally:
        results = write_all(out, config, records, final=True, run_id=run_id, partial=partial)
        shutil.rmtree(out / RUN_DIR, ignore_errors=True)
    say(f"ddp: done in {time.monotonic() - start:.1f} s")
    return results
