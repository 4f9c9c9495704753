"""The ORT interference probe's place in a run: its job (it rides in the floors worker, after
the floors) and its results as one flat record (bench.runtimes.ort.probe_ort_interference)."""
from __future__ import annotations

import sys
from typing import Any

from bench.runtimes.base import Artifacts


def interference_job(enabled: bool, runtimes: tuple[str, ...], threads: int,
                     artifacts: Artifacts | None, calls: int) -> dict[str, Any] | None:
    """The probe's part of the floors job: at the run's (first) thread count and, if that
    differs, at 2 threads (ORT's intra-op pool only has worker threads from 2 on)."""
    if not (enabled and "onnxruntime" in runtimes and artifacts is not None and "onnx" in artifacts.paths):
        return None
    return {"probe_threads": list(dict.fromkeys((threads, 2))), "batch": 100_000,
            "artifacts": artifacts.to_json(), "calls": calls}


def probe_off_reason(quick: bool) -> str:
    """Why the probe did not run: --quick (its 1-3 s do not fit, and at 2 threads it does not
    repeat anyway), or a config that turned it off (the Python API's example)."""
    return "--quick skips it" if quick else "interference=False in the suite's config"


def interference_record(enabled: bool | str, runtimes: tuple[str, ...], threads: int, isolation: str,
                        probe: dict[str, Any] | None, probes: Any,
                        failure: str | None = None) -> dict[str, Any] | None:
    """The probe's results as one flat record (threads<k>_* for the second count); `enabled` is
    True, or why the probe is off."""
    if enabled is not True:
        return {"skipped": f"not probed ({enabled or 'interference is off'})"}
    if "onnxruntime" not in runtimes:
        return {"skipped": "onnxruntime not in --runtimes"}
    if probe is None:
        return None
    if failure or not isinstance(probes, list):
        sys.stderr.write(f"warning: ORT interference probe: {failure or 'no result'}\n")
        probes = [{"threads": t, "skipped": failure or "no result"} for t in probe["probe_threads"]]
    interference: dict[str, Any] = {}
    for probe_threads, result in zip(probe["probe_threads"], probes):
        if probe_threads == threads:
            interference.update(result)
        else:
            interference.update({f"threads{probe_threads}_{k}": v for k, v in result.items()})
    interference["isolation"] = isolation
    return interference
