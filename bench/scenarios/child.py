"""`python -m bench.scenarios.child JOB RESULT`: one LoadGen test in its own process.

Why a process: a runtime that crashes (a segfault in native code) must become a failed record,
not take the command down; LoadGen's pre-generated queries and the runtime's arenas are freed
with the process; and the memory figure starts from a clean worker. The job and the result are
files, not stdout, because LoadGen's C++ code may print to stdout.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from linreg.errors import exception_line
from linreg.files import write_json_atomic
from linreg.lifetime import die_with_parent
from linreg.limits import apply_from_environment, bound_text, is_out_of_memory


def main(argv: list[str]) -> int:
    die_with_parent()  # SIGTERM or kill -9 of the run must not leave us under PID 1
    apply_from_environment()  # the parent's memory bound, before the runtime's imports
    from bench.runtimes.base import Artifacts
    from bench.scenarios.loadgen import failed_result, run_test
    from bench.scenarios.runner import finite
    from bench.scenarios.settings import LoadgenConfig

    job = json.loads(Path(argv[0]).read_text())
    config = LoadgenConfig(**job["config"])
    try:
        result = run_test(config, Artifacts.from_json(job["artifacts"]), Path(job["out_dir"]))
    except Exception as exc:  # anything outside the runtime's callbacks: still a record
        line = f"{type(exc).__name__}: {exception_line(exc, 200)}"
        result = failed_result(config, f"out of memory under {bound_text()}: {line}"
                               if is_out_of_memory(exc) else line)
    write_json_atomic(argv[1], finite(result))  # a NaN latency (full disk, no samples) is null
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
