"""LoadGen's own latency floor here: SingleStream against an empty Python SUT (no model at all).

    .venv/bin/python tests/benchmarks/loadgen_floor.py [OUT_DIR]

Prints LoadGen's p50/p99 for a SUT that answers every query at once, through the same fast issue
callback bench/scenarios uses: what `linreg-bench loadgen` adds to a runtime's own call time is
this floor plus reading the output and building the response (README, Latency under load).
"""
from __future__ import annotations

import sys
import tempfile

import mlperf_loadgen as lg
import numpy as np


def main(out_dir: str) -> None:
    y = np.zeros(1, np.float32)
    ptr = y.ctypes.data
    respond, complete = lg.QuerySampleResponse, lg.QuerySamplesComplete

    def issue(ids: list[int], indices: list[int]) -> None:
        complete([respond(i, ptr, 4) for i in ids])

    sut = lg.ConstructFastSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(256, 256, lambda s: None, lambda s: None)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.SingleStream
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms, settings.min_query_count = 1000, 100
    settings.single_stream_expected_latency_ns = 2000  # ~1M queries pre-generated (~400 MB)
    output = lg.LogOutputSettings()
    output.outdir, output.copy_summary_to_stdout = out_dir, False
    log = lg.LogSettings()
    log.log_output, log.enable_trace = output, False
    lg.StartTestWithLogSettings(sut, qsl, settings, log)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    for line in open(f"{out_dir}/mlperf_log_summary.txt"):
        if line.startswith(("50.00 percentile", "99.00 percentile", "Result is", "QPS w/ loadgen")):
            print(line.rstrip())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="loadgen-floor-"))
