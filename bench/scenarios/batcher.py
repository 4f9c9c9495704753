"""Server: dynamic batching, the way MLPerf Server SUTs serve single-sample queries at a high rate.

LoadGen's issue callback only enqueues; one worker thread takes everything pending (up to
`max_batch` samples), runs it as one batched runtime call and answers the whole batch with one
QuerySamplesComplete. With LoadGen's `server_coalesce_queries`, queries whose scheduled time has
already passed arrive in one issue call, so a busy SUT is entered once per group, not per query.
A query waits at most for the batch in progress plus its own: under light load batches are of
one, under heavy load they grow, and the per-call costs (Python, the runtime's dispatch,
LoadGen's callback) are paid once per batch instead of once per query.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from linreg.errors import exception_line

Run = Callable[[list[int], list[int]], None]  # (response ids, sample indices) -> answered
STOP = None


class DynamicBatcher:
    """issue() enqueues (ids, indices); the worker runs what is pending in batches of <= max_batch.

    `run` must answer every sample it is given (RuntimeSUT.run_queries completes them empty when
    the runtime fails); an exception that escapes it anyway is kept in `failure` and the worker
    answers empty from then on, so LoadGen still gets every response and the test ends.
    """

    def __init__(self, run: Run, max_batch: int, empty: Run) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.run, self.empty, self.max_batch = run, empty, max_batch
        self.pending: queue.SimpleQueue[tuple[list[int], list[int]] | None] = queue.SimpleQueue()
        self.failure: str | None = None
        self.batches = 0  # how many runtime batches, and how many samples in them
        self.samples = 0
        self.worker = threading.Thread(target=self._work, name="server-batcher", daemon=True)
        self.worker.start()

    def issue(self, ids: list[int], indices: list[int]) -> None:
        """LoadGen's issue callback: no work here, LoadGen's issuing thread returns at once."""
        self.pending.put((ids, indices))

    def flush(self) -> None:
        pass  # the worker never holds samples back: nothing to flush

    def close(self) -> None:
        """Stop the worker after what is pending (call once LoadGen's test has returned)."""
        self.pending.put(STOP)
        self.worker.join()

    def take(self) -> tuple[list[int], list[int], bool]:
        """Block for the next query, then add whatever else is pending: (ids, indices, stop)."""
        first = self.pending.get()
        if first is STOP:
            return [], [], True
        ids, indices = list(first[0]), list(first[1])
        while len(ids) < self.max_batch:
            try:
                more = self.pending.get_nowait()
            except queue.Empty:
                break
            if more is STOP:
                return ids, indices, True
            ids += more[0]
            indices += more[1]
        return ids, indices, False

    def _work(self) -> None:
        stop = False
        while not stop:
            ids, indices, stop = self.take()
            for start in range(0, len(ids), self.max_batch):  # a coalesced query may exceed it
                chunk = ids[start:start + self.max_batch], indices[start:start + self.max_batch]
                self.batches += 1
                self.samples += len(chunk[0])
                self._answer(*chunk)

    def _answer(self, ids: list[int], indices: list[int]) -> None:
        if self.failure is None:
            try:
                self.run(ids, indices)
                return
            except Exception as exc:  # never lose the worker: LoadGen would wait forever
                self.failure = f"{type(exc).__name__}: {exception_line(exc, 200)}"
        self.empty(ids, indices)

    def stats(self) -> dict[str, Any]:
        """What the batcher did: batches run and their mean size."""
        return {"max_batch": self.max_batch, "batches": self.batches, "samples": self.samples,
                "mean_batch": self.samples / self.batches if self.batches else None}
