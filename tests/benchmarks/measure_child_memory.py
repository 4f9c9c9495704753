"""Peak memory of each bench worker job: the numbers behind linreg/limits.py's default bound.

Each job of a run (the floors, every training variant and inference runtime at the default sizes,
timed with --quick's short timings) runs in a fresh `python -m bench.worker`, as `bench` runs it.
While it runs, this samples the child's /proc/PID/status every 20 ms for VmData (private writable
memory: what RLIMIT_DATA bounds) and reads VmPeak and VmHWM (peak RSS) at its end. With --bound-gib
each worker runs under that RLIMIT_DATA, and must still succeed.

    nice -n 19 .venv/bin/python tests/benchmarks/measure_child_memory.py --export-dir EXPORT [--bound-gib 8]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.runtimes.base import Artifacts  # noqa: E402
from bench.suite import SuiteConfig, _floors_and_probe, _planned  # noqa: E402
from bench.worker import worker_environment  # noqa: E402
from linreg.limits import child_memory_environment  # noqa: E402

# The child runs the worker, then writes its own /proc/self/status peaks to stderr's last line.
WRAPPER = ("import sys, json; from bench.worker import main; rc = main(); "
           "s = dict(l.split(':', 1) for l in open('/proc/self/status')); "
           "sys.stderr.write('\\nSTATUS ' + json.dumps({k: s[k].strip() for k in ('VmPeak', 'VmHWM')}) + '\\n'); "
           "sys.exit(rc)")


def _kb(text: str) -> int:
    return int(text.split()[0])


def _sample_vmdata(pid: int, peak: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmData:"):
                peak[0] = max(peak[0], _kb(line.split(":", 1)[1]))
        stop.wait(0.02)


def measure(job: dict[str, Any], bound_gib: float | None) -> dict[str, Any]:
    env = worker_environment()
    if bound_gib:
        env = child_memory_environment(bound_gib, env)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    peak, stop = [0], threading.Event()
    sampler = threading.Thread(target=_sample_vmdata, args=(proc.pid, peak, stop), daemon=True)
    sampler.start()
    out, err = proc.communicate(json.dumps(job))
    stop.set()
    status = next((json.loads(line[7:]) for line in reversed(err.splitlines()) if line.startswith("STATUS ")), {})
    final = next((json.loads(line) for line in reversed(out.splitlines()) if '"done"' in line), {})
    return {"ok": bool(final.get("done")), "error": final.get("error"), "wall_s": time.monotonic() - start,
            "vmdata_peak_mib": peak[0] / 1024, "vmpeak_mib": _kb(status.get("VmPeak", "0 kB")) / 1024,
            "vmhwm_mib": _kb(status.get("VmHWM", "0 kB")) / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", type=Path, required=True)
    parser.add_argument("--bound-gib", type=float, default=None, help="run each worker under this RLIMIT_DATA")
    parser.add_argument("--compile", action="store_true", help="include torch.compile (cold: ~20 s each)")
    args = parser.parse_args(argv)
    config = SuiteConfig.quick(batch_sizes=(1, 10, 10**3, 10**5, 10**6, 10**7),
                               train_sizes=(40, 10**4, 10**6, 10**7), devices=("cpu",), isolation="none",
                               compile_skip_reason=None if args.compile else "skipped")
    artifacts = Artifacts.from_export_dir(args.export_dir)
    jobs: list[dict[str, Any]] = []
    _floors_and_probe(replace_interference(config), artifacts, lambda job, emit: jobs.append(job) or {"floors": {}})
    jobs += [job for job, _ in _planned(config, artifacts) if job]
    print(f"# bound: {args.bound_gib or 'none'} GiB (RLIMIT_DATA); quick timing; sizes as `run`'s defaults")
    print(f"{'job':28} {'ok':>3} {'VmData peak':>12} {'VmPeak':>9} {'VmHWM':>9} {'wall':>6}")
    for job in jobs:
        name = job.get("runtime") or job.get("variant") or job["task"]
        r = measure(job, args.bound_gib)
        print(f"{name:28} {'yes' if r['ok'] else 'NO':>3} {r['vmdata_peak_mib']:9.0f} MiB {r['vmpeak_mib']:5.0f} MiB "
              f"{r['vmhwm_mib']:5.0f} MiB {r['wall_s']:5.1f}s" + (f"  {r['error']}" if r["error"] else ""), flush=True)
    return 0


def replace_interference(config: SuiteConfig) -> SuiteConfig:
    from dataclasses import replace

    return replace(config, interference=True, copy_bytes=SuiteConfig.copy_bytes)  # as `run` does


if __name__ == "__main__":
    sys.exit(main())
