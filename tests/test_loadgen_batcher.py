"""The serving path without LoadGen: the dynamic batcher's order and batches, the SUT's batched answers."""
from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np
import pytest

from bench.runtimes.base import Bound
from bench.scenarios.batcher import DynamicBatcher
from bench.scenarios.sut import RuntimeSUT, sample_inputs


class Reply:
    """Stands in for lg.QuerySampleResponse: (id, data pointer, size)."""

    def __init__(self, id: int, data: int, size: int) -> None:
        self.id, self.data, self.size = id, data, size


class Answers:
    """Stands in for lg.QuerySamplesComplete: reads each response's float now, as LoadGen copies it."""

    def __init__(self) -> None:
        self.values: dict[int, float] = {}
        self.calls: list[int] = []
        self.duplicates = 0

    def __call__(self, replies: list[Reply]) -> None:
        self.calls.append(len(replies))
        for r in replies:
            self.duplicates += r.id in self.values
            self.values[r.id] = ctypes.c_float.from_address(r.data).value if r.size else float("nan")


class FakeRuntime:
    """y = 0.7 x + 0.3 in numpy; `in_place` says whether its Bound exposes the host arrays it uses."""

    def __init__(self, in_place: bool, wrong_after: int | None = None) -> None:
        self.in_place, self.wrong_after, self.calls, self.binds = in_place, wrong_after, 0, 0

    def bind(self, x: Any) -> Bound:
        self.binds += 1
        xn = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        yn = np.empty_like(xn)

        def call() -> None:
            self.calls += 1
            np.multiply(xn, np.float32(0.7), out=yn)
            np.add(yn, np.float32(0.3), out=yn)
            if self.wrong_after is not None and self.calls > self.wrong_after:
                np.add(yn, np.float32(1.0), out=yn)  # a runtime that starts computing something else

        def output() -> np.ndarray:
            call()
            return yn.copy()

        bound = Bound(call=call, output=output)
        if self.in_place:
            bound.host_input, bound.host_output = xn, yn
        return bound


def expected(inputs: np.ndarray, i: int) -> float:
    return float(np.float32(inputs[i, 0]) * np.float32(0.7) + np.float32(0.3))


def make_sut(in_place: bool, count: int = 64, batch: int = 16,
             wrong_after: int | None = None) -> tuple[RuntimeSUT, Answers, np.ndarray]:
    inputs = sample_inputs(count)
    answers = Answers()
    sut = RuntimeSUT(FakeRuntime(in_place, wrong_after), inputs, batch, answers, Reply)
    sut.load_samples(list(range(count)))
    return sut, answers, inputs


@pytest.mark.parametrize("in_place", [True, False])
def test_every_query_gets_its_own_samples_answer(in_place: bool) -> None:
    sut, answers, inputs = make_sut(in_place)
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 64, 200).tolist()  # repeats included, as LoadGen sends them
    for q, i in enumerate(indices[:50]):
        sut.issue_fast([1000 + q], [i])  # single-stream: one sample per query
    sut.issue_fast([2000 + q for q in range(150)], indices[50:])  # offline-like: batches of 16
    assert answers.duplicates == 0 and sut.failure is None
    for q, i in enumerate(indices[:50]):
        assert answers.values[1000 + q] == expected(inputs, i)
    for q, i in enumerate(indices[50:]):
        assert answers.values[2000 + q] == expected(inputs, i)
    assert max(answers.calls) == 16  # one QuerySamplesComplete per batch of <= batch
    if in_place:  # bindings for batch sizes 1, 2, 4, 8, 16 made at load, reused; none per sample
        assert sut.runtime.binds == 5


def test_single_samples_in_batches_use_the_binding_made_at_load() -> None:
    """A server batch of one sample must not bind again (torch.compile would compile per query)."""
    sut, answers, inputs = make_sut(False)
    binds = sut.runtime.binds
    for q in range(5):
        sut.run_queries([q], [q])
    assert sut.runtime.binds == binds and [answers.values[q] for q in range(5)] == \
        [expected(inputs, q) for q in range(5)]


def test_a_runtime_that_goes_wrong_in_place_is_answered_wrong_not_hidden() -> None:
    sut, answers, inputs = make_sut(True, wrong_after=3)
    for q in range(6):
        sut.issue_fast([q], [q])
    assert [answers.values[q] == expected(inputs, q) for q in range(6)] == [True] * 3 + [False] * 3


def test_the_batcher_drains_what_is_pending_into_batches_in_order() -> None:
    seen: list[list[int]] = []
    gate = threading.Event()

    def run(ids: list[int], indices: list[int]) -> None:
        gate.wait()  # the first batch blocks, so the later queries pile up
        seen.append(list(ids))
        assert ids == [i + 100 for i in indices]

    batcher = DynamicBatcher(run, max_batch=8, empty=lambda ids, indices: None)
    batcher.issue([100], [0])
    for start in range(1, 21, 3):
        batcher.issue([100 + i for i in range(start, start + 3)], list(range(start, start + 3)))
    gate.set()
    batcher.close()
    flat = [i for batch in seen for i in batch]
    assert flat == list(range(100, 122))  # every sample once, in the order LoadGen issued them
    assert all(len(batch) <= 8 for batch in seen) and len(seen) < 22  # pending ones ran together


def test_a_batcher_whose_run_raises_answers_empty_and_keeps_the_reason() -> None:
    emptied: list[int] = []

    def run(ids: list[int], indices: list[int]) -> None:
        raise RuntimeError("device lost")

    batcher = DynamicBatcher(run, max_batch=4, empty=lambda ids, indices: emptied.extend(ids))
    for q in range(10):
        batcher.issue([q], [q])
    batcher.close()
    assert sorted(emptied) == list(range(10)) and "RuntimeError: device lost" in (batcher.failure or "")
    with pytest.raises(ValueError, match="max_batch"):
        DynamicBatcher(run, max_batch=0, empty=run)
