"""`run`'s short LoadGen pass: SingleStream at batch 1 for every runtime that was benched.

One child process per runtime (a crash is that runtime's failed record), logs under
OUT/loadgen/<runtime>/, and one record per runtime in results.json's top-level `loadgen`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from bench.engine.interrupt import interruption_reason
from bench.engine.units import format_duration
from bench.scenarios.runner import run_child
from bench.scenarios.settings import LoadgenConfig

PASS_DURATION_S = 2.0   # per runtime: ~100k queries at ~15 us each, enough for a p99.9
QUICK_PASS_DURATION_S = 0.5  # --quick: ~2.4 s per runtime with its process (12 s for five), so
                             # `run --quick` keeps its minute (27 s on the quiet development VM)
PASS_ACCURACY_SAMPLES = 512


class PassInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during the pass; `record` holds the runtimes that finished before it."""

    def __init__(self, reason: str, record: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason, self.record = reason, record


def singlestream_pass(artifacts: Any, runtimes: list[str] | tuple[str, ...], device: str, threads: int,
                      out: Path, duration_s: float = PASS_DURATION_S,
                      say: Callable[[str], None] = lambda line: None,
                      memory_gib: float | None = None) -> dict[str, Any]:
    """{"scenario", "device", "duration_s", "runs": [one LoadGen result per runtime, its limits in it]}."""
    runs: list[dict[str, Any]] = []
    try:
        _run_each(artifacts, runtimes, device, threads, out, duration_s, say, runs, memory_gib)
    except KeyboardInterrupt as exc:  # keep the finished runtimes; the caller writes them, then stops
        reason = interruption_reason(exc)
        raise PassInterrupted(reason, {**_record(device, duration_s, runs),
                                       "interrupted": f"{reason} after {len(runs)} of {len(runtimes)} runtimes"}
                              ) from None
    return _record(device, duration_s, runs)


def _record(device: str, duration_s: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"scenario": "single-stream", "device": device, "batch_size": 1, "duration_s": duration_s,
            "logs": "loadgen/<runtime>/", "runs": runs}


def _run_each(artifacts: Any, runtimes: list[str] | tuple[str, ...], device: str, threads: int, out: Path,
              duration_s: float, say: Callable[[str], None], runs: list[dict[str, Any]],
              memory_gib: float | None = None) -> None:
    """One child per runtime, its record appended to `runs` as soon as it finishes."""
    for runtime in runtimes:
        config = LoadgenConfig("single-stream", runtime, device, duration_s, threads=threads,
                               accuracy_samples=PASS_ACCURACY_SAMPLES)
        result = run_child(config, artifacts, out / "loadgen" / runtime, memory_gib)
        lat = result.get("latency_s") or {}
        verdict = "VALID" if result["valid"] else "; ".join(result.get("reasons") or ["INVALID"])
        p99 = lat.get("p99")
        say(f"loadgen: single-stream {runtime}: {verdict}"
            + (f", p99 {format_duration(p99)}" if p99 else ""))
        runs.append({k: result.get(k) for k in ("runtime", "valid", "failed", "reasons", "latency_s", "qps",
                                                 "query_count", "accuracy", "memory", "limits")})
