"""The plan said before a run, and progress in a log: a line at least every 15 s with the time
elapsed and left. A fake clock and a fake executor: no timed assertion, nothing measured."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

import bench.suite as suite
from bench.engine.measurement import Measurement, Spec
from bench.engine.timing import skipped
from bench.plan import LogProgress, duration, make_plan, plan_lines, progress_to
from bench.runtimes.base import Artifacts
from bench.suite import SuiteConfig, count_measurements, run_suite

ARTIFACTS = Artifacts(Path("model.pth"), {f: Path(f) for f in ("torchscript", "onnx", "exported_program")})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fake_executor(clock: FakeClock, tick: Callable[[], None], seconds_per_measurement: float):
    """An executor whose measurements each take `seconds_per_measurement` of fake time, with the
    heartbeat ticking every fake second meanwhile (what bench.plan.heartbeat's thread does)."""
    def make(isolation: str, cache_dir: Any = None, timeout_s: Any = None, memory_gib: Any = None):
        def execute(job: dict[str, Any], emit: Callable[[Measurement], None]) -> dict[str, Any]:
            if job["task"] == "floors":
                _wait(clock, tick, 20.0)  # the floors: long, and nothing finishes meanwhile
                return {"floors": {}, "process": {"allocator": {}}}
            phase = "train_epoch" if job["task"] == "training" else "inference"
            for device in job["devices"]:
                for size in job["sizes"]:
                    _wait(clock, tick, seconds_per_measurement)
                    emit(skipped(Spec(phase, job.get("variant") or job["runtime"], device, size,
                                      threads=job["threads"]), "fake"))
            return {}
        return execute
    return make


def _wait(clock: FakeClock, tick: Callable[[], None], seconds: float) -> None:
    end = clock.now + seconds
    while clock.now < end:
        clock.now = min(clock.now + 1.0, end)
        tick()


@pytest.mark.parametrize("seconds_per_measurement", [0.5, 40.0])  # many quick ones; a slow compile
def test_a_log_hears_from_the_run_at_least_every_15_s(monkeypatch, seconds_per_measurement: float) -> None:
    config = SuiteConfig(devices=("cpu",), runtimes=("eager", "onnxruntime"), variants=("eager",),
                         batch_sizes=(1, 1000), train_sizes=(40,), isolation="none", processes=3,
                         interference=False)
    plan = make_plan(config, ARTIFACTS)
    clock, lines = FakeClock(), []
    log = LogProgress(plan.steps, plan.seconds, lambda line: lines.append((clock.now, line)), clock=clock)
    monkeypatch.setattr(suite, "executor", _fake_executor(clock, log.tick, seconds_per_measurement))
    result = run_suite(config, ARTIFACTS, progress=progress_to(_NoBar(), log, lines.append),
                       started=log.started)
    assert len(result.measurements) == count_measurements(config)
    assert log.done == plan.steps == 3 * 5  # every measurement in each of the 3 processes
    times = [0.0] + [t for t, _ in lines] + [clock.now]
    assert max(b - a for a, b in zip(times, times[1:])) <= 15.0, lines
    assert all(" s" in line and "done" in line for _, line in lines)
    assert any("left" in line for _, line in lines)
    assert any("inference/onnxruntime, process 3 of 3" in line for _, line in lines)


class _NoBar:
    def update(self, n: int = 1, note: str = "") -> None:
        pass


def test_the_time_left_starts_from_the_plan_and_follows_the_pace() -> None:
    clock = FakeClock()
    log = LogProgress(10, 100.0, lambda line: None, clock=clock)
    assert log.left_s() == 100.0
    clock.now = 50.0
    for _ in range(5):
        log.step("x")
    assert log.left_s() == pytest.approx(0.5 * 50.0 + 0.5 * 50.0)
    for _ in range(5):
        log.step("x")
    assert log.left_s() is None


def test_the_plan_says_what_runs_and_about_how_long() -> None:
    config = SuiteConfig(devices=("cpu",), runtimes=("eager", "onnxruntime"), processes=3)
    plan = make_plan(config, ARTIFACTS)
    text = "\n".join(plan_lines(config, plan))
    assert plan.training == (12, 4)  # the four training variants run unless --variants says less
    assert plan.inference == (12, 0)
    assert "training: 16 (4 skipped up front) = 4 variant(s) [eager, fused, torch_compile, cuda_graph]" in text
    assert "inference: 12 = 2 runtime(s) [eager, onnxruntime] x batch 1, 10, 1000, 10^5, 10^6, 10^7" in text
    assert "3 worker process(es)" in text and "about " in text and "min" in text
    quick = replace(SuiteConfig.quick(devices=("cpu",)), processes=1)
    assert make_plan(quick, ARTIFACTS).seconds < plan.seconds / 4
    counted = replace(config, metric="instructions")  # a valgrind worker per runtime and variant after
    assert make_plan(counted, ARTIFACTS).seconds > plan.seconds + 60


@pytest.mark.parametrize("seconds, said", [(3, "5 s"), (42, "40 s"), (150, "2.5 min"), (900, "15 min"),
                                           (4000, "1 h 7 min")])
def test_durations_are_said_roughly(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_the_heartbeat_ticks_from_its_own_thread() -> None:
    import threading

    from bench.plan import heartbeat

    ticked = threading.Event()

    class Ticked:
        def tick(self) -> None:
            ticked.set()
    with heartbeat(Ticked(), period_s=0.001):  # type: ignore[arg-type]
        assert ticked.wait(30)
