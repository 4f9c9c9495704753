"""LoadGen's own floor here: an empty Python SUT (no model at all), SingleStream or Server.

    .venv/bin/python tests/benchmarks/loadgen_floor.py [OUT_DIR]
    .venv/bin/python tests/benchmarks/loadgen_floor.py --server-qps 1200000 [--duration-s 2] [OUT_DIR]

Prints LoadGen's summary lines for a SUT that answers every query at once through the same fast
issue callback bench/scenarios uses, with preallocated responses: what `linreg-bench loadgen`
adds to a runtime's own call time is this floor plus the call and its response (README, Latency
under load). In Server, queries are coalesced (server_coalesce_queries) and each group answered
in its issue call, as RuntimeSUT's inline batching does: if this empty SUT is INVALID at a rate,
no runtime behind LoadGen's Python binding is VALID there on this machine.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import mlperf_loadgen as lg
import numpy as np

SAMPLES = 1024    # the QSL size of `linreg-bench loadgen`
MAX_BATCH = 1024  # its server_max_batch
SUMMARY = ("50.00 percentile", "99.00 percentile", "Result is", "QPS w/ loadgen", "Completed samples",
           "Scheduled samples")


def settings(server_qps: float | None, duration_s: float) -> lg.TestSettings:
    s = lg.TestSettings()
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms, s.min_query_count = int(duration_s * 1000), 100
    if server_qps is None:
        s.scenario = lg.TestScenario.SingleStream
        s.single_stream_expected_latency_ns = 2000  # ~1M queries per second pre-generated (~400 MB)
    else:
        s.scenario = lg.TestScenario.Server
        s.server_target_qps, s.server_target_latency_ns = server_qps, 10_000_000  # the CLI's 10 ms
        s.server_coalesce_queries = True
    return s


def main(out_dir: str, server_qps: float | None, duration_s: float) -> None:
    y = np.zeros(1, np.float32)
    respond, complete = lg.QuerySampleResponse, lg.QuerySamplesComplete

    pool = [respond(0, y.ctypes.data, 4) for _ in range(MAX_BATCH)]

    def issue(ids: list[int], indices: list[int]) -> None:
        for start in range(0, len(ids), MAX_BATCH):  # answered in chunks, as RuntimeSUT batches
            chunk = ids[start:start + MAX_BATCH]
            replies = pool[:len(chunk)] if len(chunk) < MAX_BATCH else pool
            for reply, q in zip(replies, chunk):
                reply.id = q
            complete(replies)

    sut = lg.ConstructFastSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(SAMPLES, SAMPLES, lambda s: None, lambda s: None)
    output = lg.LogOutputSettings()
    output.outdir, output.copy_summary_to_stdout = out_dir, False
    log = lg.LogSettings()
    log.log_output, log.enable_trace = output, False
    lg.StartTestWithLogSettings(sut, qsl, settings(server_qps, duration_s), log)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    for line in open(f"{out_dir}/mlperf_log_summary.txt"):
        if line.startswith(SUMMARY):
            print(line.rstrip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="LoadGen with an empty Python SUT")
    parser.add_argument("out_dir", nargs="?", default=None)
    parser.add_argument("--server-qps", type=float, default=None, help="Server at this rate (default: SingleStream)")
    parser.add_argument("--duration-s", type=float, default=1.0)
    args = parser.parse_args()
    out = args.out_dir or tempfile.mkdtemp(prefix="loadgen-floor-")
    os.makedirs(out, exist_ok=True)  # LoadGen cannot make it, and crashes without its logs
    main(out, args.server_qps, args.duration_s)
