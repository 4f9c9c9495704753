"""The results.json format: its version, its history, and what must match before two runs compare.

Format history:
  1 (linreg-bench 0.1): schema_version, created_utc, environment, config, floors, measurements.
    Each measurement: phase, runtime, device, batch_size, then either times_s (raw seconds per call,
    warmups excluded) with derived median_s/iqr_s/min_s/max_s/mean_s/p05_s/p95_s, or skip_reason;
    always parity (or null) and warnings; optional extras: minor_faults_per_call, bytes_moved,
    bytes_per_s, bandwidth_efficiency, compile_s, provider, threads.
    Also `summary` (counts: total, measured, skipped, parity_failed, warned), derived from
    `measurements` and recomputed by readers rather than trusted. Non-finite floats are written
    as null (strict JSON). results.csv is a flat view of the same entries, not a stored format.
    Golden file: tests/golden/results_v1.json, which must keep loading.
  2 (this session's one new version; later additions of the session join it):
    data-parallel records (`linreg-bench ddp`): runtime "ddp" with `world_size` (int >= 1), which
    becomes part of a measurement's identity (phase, runtime-ws<k>, device, batch_size), so one
    file holds several world sizes at one N; a v1 reader would take them for duplicates. Extras:
    backend, nnodes, nproc_per_node, host_cpus, gpu_count, ranks_share_cores, loadavg_1m,
    allreduce_median_s, allreduce_share, allreduce_isolated_median_s, allreduce_bytes,
    rank_epoch_median_s, ranks_identical, rank_max_abs_diff, scaling_efficiency, speedup_vs_ws1,
    launch_s, rendezvous, port_retries, shard, epochs, warmup_epochs; `failed: true` on the skip
    record of a world size whose job crashed, hung or was interrupted.
    History store (`linreg-bench history`): top-level `run_id` (a unique hex id per run; `history
    add` recognises a run by it) and `environment.machine_id` (the store's folder for the machine,
    bench/store/identity.py). Readers treat both as optional: a file without them (v1) gets a
    content-hash run id, and `history add --machine NAME` names its machine.
    Latency under load (`linreg-bench loadgen`, per-request latency, memory per runtime):
    - p05_s/p95_s renamed block_p05_s/block_p95_s: they are percentiles of the block averages
      (each averages calls_per_sample calls), not of requests. Readers recompute them from times_s,
      so v1 files load unchanged.
    - inference measurements gain `latency_s` {p50, p90, p99, p999, max, n, clock_overhead_s}:
      single calls timed one by one (n of them; clock_overhead_s is the harness's own median
      cost per reading, not subtracted), `latency_cdf_s` {q: probabilities, s: seconds} and
      `latency_unreliable` (the percentiles that n cannot support: < 10 calls beyond them).
    - inference measurements gain `memory` {rss_peak_above_baseline_bytes, rss_baseline_bytes,
      rss_peak_scope: "measurement" | "process", and on CUDA cuda_max_allocated_bytes,
      cuda_baseline_allocated_bytes, cuda_note}: the worker's peak resident memory above its
      baseline read before the runtime loaded.
    - optional top-level `loadgen`: the run's short MLPerf LoadGen SingleStream pass, one record
      per runtime (scenario, runtime, valid, latency_s, qps, reasons, accuracy), or
      {"skipped": reason}.
    Numbers that reproduce (issue 9):
    - environment gains cpu_isa (torch's CPU capability), cpu_flags and cpu_flags_sha256,
      cpu_caches {l1d, l2, l3} (bytes), kernel and loadavg_1m {start, end}
      (bench/store/machine.py). cpu_isa, cpu_flags_sha256, cpu_caches, kernel and machine_id
      join the fingerprint, compared only when both files carry them (a v1 file has none).
    - measurements gain `estimate_s` and the estimate object (bench/engine/estimate.py):
      {interval_s, method ("reference-ratio" | "process-median"), reference (kind: dispatch |
      autograd | ort | stream), tracking, scale_s (the run's p10 reference time), processes,
      draws, spread}; and `processes`: [{median_s, n_samples, draws: [{median_s, n_samples,
      reference_s, ratio, reference_times_s}]}] (a draw is one round: a fresh instance timed
      with its reference blocks interleaved). config.timing gains `reference` and `rounds`;
      config gains `processes` and `absent_devices`. Readers treat all of them as optional.
    - floors may carry the roofline (bench/engine/roofline.py): roofline_bytes_per_s,
      roofline_kernel, roofline_kernels {name: bytes/s}, roofline_threads.
    Thread counts as a list (`--threads 1 2`, `threads = [1, 2]`; issue 11):
    - every bench/run entry, skip records included, carries `threads` (int >= 1; v1 had it as an
      optional extra of timed entries): the intra-op threads it ran with.
    - a run of several counts also marks each entry `thread_scaling: true`: then a count other
      than 1 joins the identity, the key's runtime becoming runtime-t<k> (eager-t2), so one file
      holds one measurement at several counts; 1 thread keeps the bare name, so the 1-thread
      entries match a one-count baseline. A one-count run (any count) keeps the keys it always
      had, as do v1 files and v2 files without these fields. compare warns when two matched
      entries carry different `threads`. A data-parallel record's `threads` are per rank.
    - config.threads and environment.threads.torch/.onnxruntime: a number for one count (as
      before), the list for several. A list is not a fingerprint that must match (the keys carry
      the counts). The floors and the ORT interference probe run at the first count.
    - results.csv gains a `threads` column after world_size.
  3 (numbers that are true, issue 20): the time published for a measurement is what its run
    measured, and the host's state is kept apart from it.
    - `estimate_s` is the fast state of what the run measured: the first quartile over draws of
      each draw's median (files before it: the median; both are named in `method`), never
      rescaled. (In v2 it was a workload/reference ratio times a stored scale: it could be
      1.6x the run's own time. Readers of v2 files use the draws' medians instead.)
    - the estimate object: {interval_s (95% distribution-free interval: two order statistics of
      the draw medians), method "first quartile of draw medians", draw_medians_s, host, processes, draws, spread}; `reference`,
      `tracking`, `scale_s`, `run_scale_s` and `scale_source` are gone with the calibration file.
    - `estimate.host`: {reference (kind), ratio, interval, draw_ratios, usable, tracking,
      host_moved (the reference's q3/q1 over the draws: how far the host moved meanwhile; null
      under 4 draws; absent from files before it; read by nothing that gates)} or
      null: the host-normalised ratio, workload time / the time of a fixed reference timed in
      lockstep in a companion process (bench/engine/companion.py). Dimensionless; `compare`
      gates on draw_ratios when both files have usable ones of the same kind. Each draw's
      reference record gains `where: "companion process"`.
    - bytes_per_s and bandwidth_efficiency are of estimate_s (v2: of process 1's median); the
      "unstable" warning is of all the measurement's samples (v2: of its worst instance).
    Instruction counts (`bench --metric instructions`, issue 21; optional, v3 readers without
    them ignore them): each timed CPU measurement under its bare runtime name gains
    - `instructions_per_call`: the median of the repeats below (a number, instructions);
    - `instructions`: {repeats_per_call: [per-call count of each repeat, baseline subtracted],
      spread (max/min - 1), calls (per repeat), warmup_calls, repeats, baseline_subtracted: true,
      baseline_per_call (an empty loop of the same calls), tool: "callgrind", threads: 1,
      valgrind (its --version line)}, or {skip_reason, tool, threads} where it was not counted
      ("valgrind not found: apt-get install valgrind", not a CPU device, a compiled variant, or
      "instruction count failed: ..."). A repeats' spread over 0.5% adds a warning.
    config gains `metric` ("time" | "instructions") and `instruction_processes`. compare and
    history read the counts through bench/store/counts.py (untrusted: all or nothing).
    The reference ladder (optional; readers without it ignore it): top-level
    `reference_ladder` {threads, anchor ("dispatch"), rounds, times_s: {kind: [each round's
    median block, s per call]}} (bench/engine/ladder.py): every reference kind timed in turn in
    the floors' worker's companion. The report's answer ranks runtimes on host ratios put on one
    scale by it; a missing or malformed ladder ranks them on estimate_s.
"""
from __future__ import annotations

SCHEMA_VERSION = 3
SUPPORTED_SCHEMA_VERSIONS = (1, 2, 3)

# What makes two runs comparable, defined once: compare's environment check, history's
# environment-change marks and the step gate all read these (bench/compare/comparison.py
# fingerprint_diffs), and bench/store/fingerprint.py records the versions of exactly PACKAGES.
PACKAGES = ("torch", "onnxruntime", "onnx", "onnxscript", "numpy")

# Environment fields that must be equal for two runs' absolute numbers to be comparable.
# Paths are dotted keys into results.json's `environment`.
FINGERPRINT_KEYS = (
    "cpu_model",
    "cpu_count",
    "gpu_name",
    "gpu_driver",
    "cuda_version",
    *(f"versions.{p}" for p in PACKAGES),
    "versions.python",
    "threads.torch",
    "threads.onnxruntime",
    "allocator",
    # enriched (v2): compared only when both files carry them, so v1 baselines still compare
    "machine_id",
    "cpu_isa",
    "cpu_flags_sha256",
    "cpu_caches",
    "kernel",
)
ENRICHED_FINGERPRINT_KEYS = ("machine_id", "cpu_isa", "cpu_flags_sha256", "cpu_caches", "kernel",
                             "versions.onnxscript")
# A run of several thread counts has a list here, and the count in each measurement's key instead.
THREAD_FINGERPRINT_KEYS = ("threads.torch", "threads.onnxruntime")
