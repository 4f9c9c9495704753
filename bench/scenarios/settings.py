"""What one LoadGen test runs: the scenario, the runtime, the offered load and the bounds.

Validated on construction (a bad value is a ValueError naming the field), then turned into
mlperf_loadgen.TestSettings by `test_settings` inside the process that runs the test.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# CLI spelling -> mlperf_loadgen.TestScenario member
SCENARIOS = {"single-stream": "SingleStream", "multi-stream": "MultiStream",
             "server": "Server", "offline": "Offline"}

SERVER_BATCHING = ("worker", "inline")  # bench.scenarios.batcher says how each works
# Upper bounds: LoadGen pre-generates a run's queries, so QPS x duration is memory (1e308 QPS took
# 18 GB in a minute); below MIN_QPS the min_query_count of 100 takes over 100 s.
MAX_DURATION_S = 86_400.0      # a day; MLPerf's own runs are 600 s
MIN_QPS, MAX_QPS = 1.0, 1e6    # this model serves ~1e5 QPS on one core
MAX_QUERIES = 1e8              # qps x duration: ~100 bytes a query in LoadGen
MAX_LATENCY_BOUND_MS = 1e6     # 1000 s
MAX_COUNT = 10_000_000         # threads, sample counts, batches: far past any real setting


def _positive(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _at_most(name: str, value: float | None, limit: float) -> None:
    if value is not None and value > limit:
        raise ValueError(f"{name} must be at most {limit:g}, got {value:g}")


@dataclass(frozen=True)
class LoadgenConfig:
    scenario: str                      # one of SCENARIOS
    runtime: str
    device: str = "cpu"
    duration_s: float = 10.0           # LoadGen's min_duration: MLPerf's own default is 600 s
    target_qps: float | None = None    # server: offered Poisson rate; offline: expected rate
    latency_bound_ms: float | None = None  # server: p99 bound; others: reported against it
    threads: int = 1                   # intra-op threads of the runtime (torch and ORT)
    min_query_count: int = 100         # LoadGen's min_query_count: small, duration decides
    sample_count: int = 1024           # distinct inputs in the QSL (all loaded: tiny)
    samples_per_query: int = 8         # multi-stream: samples in each query (MLPerf's 8)
    offline_batch: int = 1024          # offline: samples run as one batch
    server_max_batch: int = 1024       # server: most samples the dynamic batcher runs as one call
    server_batching: str = "inline"    # server: "inline" (LoadGen's coalesced issue call runs the
                                       # batch) | "worker" (a batching thread drains a queue)
    accuracy_samples: int = 2048       # responses LoadGen logs for the accuracy check (TEST01)
    seed: int = 0                      # LoadGen's qsl/sample/schedule RNG seeds

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r} (choose from {', '.join(SCENARIOS)})")
        if self.server_batching not in SERVER_BATCHING:
            raise ValueError(f"unknown server_batching {self.server_batching!r} "
                             f"(choose from {', '.join(SERVER_BATCHING)})")
        _positive("duration_s", self.duration_s)
        _positive("target_qps", self.target_qps)
        _positive("latency_bound_ms", self.latency_bound_ms)
        _at_most("duration_s", self.duration_s, MAX_DURATION_S)
        _at_most("latency_bound_ms", self.latency_bound_ms, MAX_LATENCY_BOUND_MS)
        if self.target_qps is not None:
            if not MIN_QPS <= self.target_qps <= MAX_QPS:
                raise ValueError(f"target_qps must be within [{MIN_QPS:g}, {MAX_QPS:g}], got {self.target_qps!r}")
            _at_most("target_qps x duration_s (queries LoadGen generates up front)",
                     self.target_qps * self.duration_s, MAX_QUERIES)
        for name in ("threads", "min_query_count", "sample_count", "samples_per_query",
                     "offline_batch", "server_max_batch", "accuracy_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
            _at_most(name, getattr(self, name), MAX_COUNT)
        if self.scenario == "server" and self.target_qps is None:
            raise ValueError("server needs target_qps (or --find-peak)")
        if self.scenario == "server" and self.latency_bound_ms is None:
            raise ValueError("server needs latency_bound_ms")

    def to_json(self) -> dict[str, Any]:
        """The settings that apply to this scenario: a single-stream record has no samples_per_query
        (it sends 1 sample a query), only multi-stream does; the batch knobs only where they batch."""
        applies = {"samples_per_query": "multi-stream", "offline_batch": "offline",
                   "server_max_batch": "server", "server_batching": "server"}
        return {k: v for k, v in asdict(self).items() if applies.get(k, self.scenario) == self.scenario}


def test_settings(config: LoadgenConfig, expected_latency_s: float, expected_qps: float) -> Any:
    """mlperf_loadgen.TestSettings for `config`; the expectations size LoadGen's pre-generated queries.

    LoadGen generates the queries of a run up front from the expected latency (single/multi-stream)
    or QPS (offline): expecting too slow a system makes the run end before min_duration (INVALID,
    "Decrease the expected latency"), so the expectations come from a short calibration, biased fast.
    """
    import mlperf_loadgen as lg

    s = lg.TestSettings()
    s.scenario = getattr(lg.TestScenario, SCENARIOS[config.scenario])
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = max(1, int(config.duration_s * 1000))
    s.min_query_count = config.min_query_count
    s.qsl_rng_seed = s.sample_index_rng_seed = s.schedule_rng_seed = config.seed
    s.accuracy_log_rng_seed = config.seed + 1  # nonzero: responses are sampled into the log
    s.accuracy_log_sampling_target = config.accuracy_samples
    s.single_stream_expected_latency_ns = max(1, int(expected_latency_s * 1e9))
    s.multi_stream_expected_latency_ns = max(1, int(expected_latency_s * 1e9))  # one batched query
    s.multi_stream_samples_per_query = config.samples_per_query
    s.offline_expected_qps = config.target_qps or expected_qps
    if config.target_qps is not None:
        s.server_target_qps = config.target_qps
    if config.latency_bound_ms is not None:
        s.server_target_latency_ns = int(config.latency_bound_ms * 1e6)
    # Queries already due when LoadGen's issuing thread gets to them arrive in one issue call
    # (each keeps its own scheduled time, so latency is still per query): the dynamic batcher
    # is then entered once per group.
    s.server_coalesce_queries = config.scenario == "server"
    return s
