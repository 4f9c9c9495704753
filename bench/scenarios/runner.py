"""Runs LoadGen tests in child processes and writes DIR/loadgen.json (atomically) with the verdict."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.scenarios.loadgen import failed_result
from bench.scenarios.settings import LoadgenConfig
from linreg.errors import first_line
from linreg.files import write_json_atomic
from linreg.lifetime import child_environment, scratch_folder
from linreg.limits import bound_text, child_memory_environment, default_child_memory_gib

LOADGEN_JSON = "loadgen.json"
LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json")


def child_timeout_s(config: LoadgenConfig) -> float:
    """Generous: LoadGen may run to 2x min_duration, plus loading and calibration."""
    return 120.0 + 4.0 * config.duration_s


def run_child(config: LoadgenConfig, artifacts: Any, out_dir: Path,
              memory_gib: float | None = None) -> dict[str, Any]:
    """One test in a fresh process under a time and a memory bound (recorded as `limits`); a crash,
    a hang or an allocation past the bound is a failed record with its reason."""
    out_dir.mkdir(parents=True, exist_ok=True)
    memory_gib = memory_gib or default_child_memory_gib()
    tmp = scratch_folder("loadgen")  # a killed run's is swept by the next one (pid gone)
    try:
        result = _run_child_in(tmp, config, artifacts, out_dir, memory_gib)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**result, "limits": {"time_s": child_timeout_s(config), "memory_gib": memory_gib}}


def _run_child_in(tmp: Path, config: LoadgenConfig, artifacts: Any, out_dir: Path,
                  memory_gib: float) -> dict[str, Any]:
    """run_child's work with its scratch folder `tmp`. On an interrupt (Ctrl-C, or SIGTERM under
    sigterm_interrupts) subprocess.run kills the child and waits; the child dies with us on kill -9."""
    job, result = tmp / "job.json", tmp / "result.json"
    job.write_text(json.dumps({"config": config.to_json(), "artifacts": artifacts.to_json(),
                               "out_dir": str(out_dir)}))
    env = dict(child_memory_environment(memory_gib, child_environment()), PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.scenarios.child", str(job), str(result)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=env, timeout=child_timeout_s(config), text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return failed_result(config, f"no result within {child_timeout_s(config):.0f} s (hung)")
    sys.stderr.write(proc.stdout)  # the child's own messages (LoadGen, runtime warnings)
    if result.exists():
        return json.loads(result.read_text())
    how = (f"signal {-proc.returncode}; it may have run into {bound_text(memory_gib)}" if proc.returncode < 0
           else f"exit code {proc.returncode}")
    last = first_line(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "")
    return failed_result(config, f"the test process died ({how}) before writing its result"
                         + (f": {last}" if last else ""))


def finite(value: Any) -> Any:
    """JSON has no NaN or inf: they become null, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def environment(config: LoadgenConfig) -> dict[str, Any]:
    """The fingerprint stored beside the verdict, LoadGen's version included."""
    from bench.store.fingerprint import fingerprint
    from linreg.environment import package_versions

    env = fingerprint(config.threads, {}, [config.device])
    env["versions"].update(package_versions(["mlcommons-loadgen"]))
    return env


def write_loadgen_json(out_dir: Path, result: dict[str, Any], config: LoadgenConfig) -> Path:
    """DIR/loadgen.json: the verdict, LoadGen's latency percentiles, settings and fingerprint."""
    doc = {"scenario": result["scenario"], "runtime": result["runtime"], "valid": result["valid"],
           "latency_s": result.get("latency_s"), "qps": result.get("qps"),
           "settings": result.get("settings"), "fingerprint": environment(config)}
    doc.update({k: v for k, v in result.items() if k not in doc})
    path = out_dir / LOADGEN_JSON
    write_json_atomic(path, finite(doc))
    return path


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """What stderr says about a result: one line per reason it is not VALID."""
    if result["valid"]:
        return []
    return [f"loadgen: INVALID: {reason}" for reason in result.get("reasons") or ["unknown"]]
