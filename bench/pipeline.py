"""`bench` and `run`: measure a suite into results.json/csv, plots and report.md; or do it all.

`run` is the whole pipeline in one command: train the tutorial's model (linreg), export it and
verify the exports (export), bench every runtime and training variant, write the results and
the report. Progress goes to stderr: the plan first (bench/plan.py), a line per stage, then a bar
while measuring on a terminal, or in a log a line per worker and at least every 10 s.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, TextIO

from bench.engine.parity import failed_parity
from bench.engine.ladder import LADDER_KEY
from bench.engine.timing import TimingConfig
from bench.runtimes.base import Artifacts
from bench.engine.interrupt import interruption_reason, sigterm_interrupts
from bench.scenarios.run_pass import PassInterrupted
from bench.store.machine import load_average_1m
from bench.plan import LogProgress, heartbeat, make_plan, plan_lines, progress_to
from bench.suite import SuiteConfig, run_suite
from linreg.destinations import claim_folder, json_record_is_ours
from linreg.progress import Progress

# A tiny configuration for end-to-end tests: seconds, in one process, nothing compiled.
SMOKE_TIMING = TimingConfig(warmup_calls=1, warmup_s=0.0, min_sample_s=0.0002,
                            min_total_s=0.002, min_samples=3, max_total_s=0.2,
                            latency_calls=200, latency_max_s=0.01)


def smoke_config(**overrides: Any) -> SuiteConfig:
    base = SuiteConfig(batch_sizes=(1, 1000), train_sizes=(40,), timing=SMOKE_TIMING,
                       isolation="none", parity_epochs=3, interference_calls=20,
                       copy_bytes=8_000_000, compile_skip_reason="skipped in --smoke (tests)")
    return replace(base, **overrides)


def inductor_cache_dir() -> str:
    """Where torch.compile keeps its cache between runs: a cold compile ~20 s, a warm one ~2 s."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return os.environ.get("TORCHINDUCTOR_CACHE_DIR") or str(Path(base) / "linreg-bench" / "inductor")


def use_inductor_cache_dir() -> str:
    """Put TORCHINDUCTOR_CACHE_DIR in the environment (unless set) and return it.

    Must run before anything imports torch._inductor (exporting does): that import sets the
    variable to /tmp/torchinductor_<user> when it is missing. cmd_run and cmd_bench call it
    first; the value returned is then the one this process and its workers really use.
    """
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", inductor_cache_dir())
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


def say(message: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    stream.write(message + "\n")
    stream.flush()


def flatten_interference(probe: dict[str, Any] | None) -> dict[str, Any]:
    """The interference probe as flat floors keys (ort_interference_*), or nothing."""
    if not probe:
        return {}
    return {f"ort_interference_{k}": v for k, v in probe.items()}


def bench(out: Path, config: SuiteConfig, artifacts: Artifacts,
          extra_config: dict[str, Any] | None = None,
          sections: Callable[[], dict[str, Any]] | None = None, announce: bool = True) -> dict[str, Any]:
    """Measure `config` into `out`: results.json, results.csv, plots and report.md; returns results.

    `sections` runs after the suite and returns extra top-level records (run's LoadGen pass);
    `announce` says the plan first (run says its own, before training)."""
    from bench.report import write_outputs
    from bench.store.fingerprint import fingerprint
    from bench.store.results import load_results, write_results

    prepare_out(out)
    cache = use_inductor_cache_dir()  # already set by cmd_*: then this is the one in use
    plan = make_plan(config, artifacts)
    for line in plan_lines(config, plan) if announce else []:
        say(line)
    start = time.monotonic()
    load_start = load_average_1m()
    with Progress(plan.steps, "bench") as bar:
        # not a terminal (a CI log): a line per job and at least every 10 s, with the time left
        log = None if bar.enabled else LogProgress(plan.steps, plan.seconds, say)
        with sigterm_interrupts(), heartbeat(log):
            result = run_suite(config, artifacts, progress=progress_to(bar, log, say), cache_dir=cache,
                               started=log.started if log else None)
    floors = {**result.floors, **flatten_interference(result.interference)}
    environment = fingerprint(config.threads, result.allocator, config.devices, load_start)
    run_config = {**config.to_json(), "artifacts": artifacts.to_json(),
                  "torchinductor_cache_dir": cache, **(extra_config or {})}
    partial = result.partial
    extra = {"partial": True, "partial_reason": partial} if partial else None
    if sections and not partial:
        _note(log, "the sections after the suite (run: the LoadGen pass, a process per runtime)")
        with heartbeat(log):
            extra, partial = _run_sections(sections)
    _note(log, "writing results.json, results.csv, plots and report.md")
    with heartbeat(log):  # the plots take seconds on a busy machine: the log still hears
        ladder = {LADDER_KEY: result.ladder} if result.ladder else {}  # bench/engine/ladder.py
        path = write_results(out, environment, run_config, floors, result.measurements,
                             sections={**ladder, **(extra or {})})
        results = load_results(path)
        write_outputs(results, out)
    for line in interference_lines(result.interference):
        say(line)
    if partial:  # written: now stop like the interruption asked (exit 130)
        say(f"bench: {partial}; kept {summary_line(result.measurements)} in {path} (partial)")
        raise KeyboardInterrupt(partial)
    say(f"bench: done in {time.monotonic() - start:.1f} s: {summary_line(result.measurements)}")
    return results


def _note(log: LogProgress | None, text: str) -> None:
    if log:
        log.note(text)


def _run_sections(sections: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """(the extra records, None), or on Ctrl-C/SIGTERM (what finished, marked partial; the reason):
    an interrupt during run's LoadGen pass must not lose the suite's finished measurements."""
    try:
        with sigterm_interrupts():
            return sections(), None
    except KeyboardInterrupt as exc:
        passed = isinstance(exc, PassInterrupted)  # it names the signal it caught (SIGTERM or Ctrl-C)
        reason = f"{exc.reason if passed else interruption_reason(exc)} during the LoadGen pass"
        kept = {"loadgen": exc.record} if passed else {}
        return {**kept, "partial": True, "partial_reason": reason}, reason


PROBE_CONTROL_LIMIT = 1.25  # the numpy control (no ORT) must read within 1/1.25x..1.25x


def interference_lines(probe: dict[str, Any] | None) -> list[str]:
    """What the ORT interference probe measured, one line per thread count; no cause asserted."""
    if not probe:
        return []
    if "skipped" in probe and "slowdown_spinning" not in probe:
        return [f"bench: ORT interference probe skipped: {probe['skipped']}"]
    lines = []
    prefixes = [""] + sorted({k.split("_", 1)[0] + "_" for k in probe if k.startswith("threads")
                              and k.split("_", 1)[0][7:].isdigit()})
    for prefix in prefixes:
        p = {k[len(prefix):]: v for k, v in probe.items() if k.startswith(prefix)} if prefix else probe
        if "slowdown_spinning" not in p:
            if p.get("skipped"):
                lines.append(f"bench: ORT interference probe at {p.get('threads', '?')} thread(s) "
                             f"failed: {p['skipped']}")
            continue
        control = p["slowdown_numpy_control"]
        # the control does the same traffic without ORT: far from 1x, the host moved the probe
        verdict = "" if control is not None and 1 / PROBE_CONTROL_LIMIT <= control <= PROBE_CONTROL_LIMIT \
            else " UNSTABLE: the numpy control moved too, so this is host noise, not a finding"
        lines.append(f"bench: eager torch after an ORT run in the same process: "
                     f"{p['slowdown_spinning']:.2f}x (spin off: {p['slowdown_no_spin']:.2f}x; "
                     f"numpy control {control:.2f}x) at batch {p['batch']}, "
                     f"{p['threads']} thread(s){verdict}")
    if lines and probe.get("isolation") in ("runtime", "fork"):
        lines.append("bench: ORT runs in its own worker")
    return lines


def exit_status(measurements: list[Any], stream: TextIO | None = None) -> int:
    """1 (with one `error: ...` line on stderr) if parity failed anywhere or nothing was timed."""
    stream = stream or sys.stderr
    failed = failed_parity(measurements)
    if failed:
        names = ", ".join(m.spec.label for m in failed[:5]) + (", ..." if len(failed) > 5 else "")
        stream.write(f"error: parity failed for {len(failed)} measurement(s): {names}\n")
        return 1
    if not any(not m.skipped for m in measurements):
        stream.write(f"error: no measurement was timed ({len(measurements)} skipped)\n")
        return 1
    return 0


def summary_line(measurements: list[Any]) -> str:
    timed = [m for m in measurements if not m.skipped]
    failed = failed_parity(measurements)
    warned = [m for m in timed if m.warnings]
    return (f"{len(timed)} timed, {len(measurements) - len(timed)} skipped, "
            f"{len(failed)} parity failures, {len(warned)} with stability warnings")


# A bench or run folder from before OWNER_MARKER: its results.json says it is ours.
RESULTS_RECORD = json_record_is_ours("results.json", ("schema_version", "measurements"))


def prepare_out(out: Path) -> None:
    claim_folder(out, "bench", RESULTS_RECORD)  # a user's folder is refused before measuring


def export_checkpoint(checkpoint: Path, export_dir: Path) -> Artifacts:
    """Export all formats (with export's parity verification) and return their paths."""
    from export.exporters import export_all

    export_all(checkpoint, export_dir)
    return Artifacts.from_export_dir(export_dir, checkpoint)


RUN_EXTRA_S = 15.0          # run's training, export and verification before the suite (2 vCPUs)
LOADGEN_START_S = 2.0       # a LoadGen pass's process and setup, per runtime, beyond its duration
SMOKE_LOADGEN_SKIP = "skipped in --smoke (tests drive LoadGen on their own)"


def loadgen_pass(out: Path, config: SuiteConfig, artifacts: Artifacts, plan: float | str) -> dict[str, Any]:
    """The short MLPerf LoadGen SingleStream pass at batch 1 per runtime on the CPU, or its skip.

    `plan` is the seconds per runtime, or the reason it is skipped. torch.compile runs only when
    the suite measured it (each LoadGen bind of it compiles)."""
    if isinstance(plan, str):
        return {"skipped": plan}
    from bench.scenarios.run_pass import singlestream_pass

    runtimes = [r for r in config.runtimes if not (config.compile_skip_reason and r == "torch_compile")]
    return singlestream_pass(artifacts, runtimes, "cpu", config.threads[0], out, plan, say=say,
                             memory_gib=config.child_memory_gib)


def run_pipeline(out: Path, config: SuiteConfig, quick: bool = False,
                 loadgen: float | str = SMOKE_LOADGEN_SKIP,
                 config_file: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train -> export + verify -> bench -> results, plots, report; all under `out`."""
    from linreg.publish import run_training
    from linreg.train import TrainConfig

    prepare_out(out)
    start = time.monotonic()
    passes = len(config.runtimes) * (loadgen + LOADGEN_START_S) if not isinstance(loadgen, str) else 0.0
    for line in plan_lines(config, make_plan(config), RUN_EXTRA_S + passes,
                           " with training, export and the LoadGen pass"):
        say(line)
    if config.isolation == "fork":  # the workers' server imports torch & co. while we train
        from bench.forked import fork_context

        fork_context(use_inductor_cache_dir())
    train_config = TrainConfig(device="cpu", threads=config.threads[0])
    say(f"[1/3] train: the tutorial's model, {train_config.epochs} epochs -> {out / 'train'}")
    result = run_training(train_config, out / "train")
    weights = ", ".join(f"{k}={v}" for k, v in result.final_state.items())
    say(f"      trained: {weights}")
    say(f"[2/3] export + verify: TorchScript, ONNX, ExportedProgram -> {out / 'export'}")
    artifacts = export_checkpoint(out / "train" / "model.pth", out / "export")
    say("[3/3] bench")
    results = bench(out, config, artifacts,
                    {"pipeline": "run", "quick": quick, "train": asdict(train_config),
                     "config_file": config_file},
                    lambda: {"loadgen": loadgen_pass(out, config, artifacts, loadgen)}, announce=False)
    say(f"run: done in {time.monotonic() - start:.1f} s -> {out / 'report.md'}")
    return results
