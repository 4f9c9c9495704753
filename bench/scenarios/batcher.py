"""Server: dynamic batching, the way MLPerf Server SUTs serve single-sample queries at a high rate.

Both ways batch what is pending into one runtime call and one QuerySamplesComplete (so the
per-call costs, Python's, the runtime's dispatch and LoadGen's callback, are paid once per batch,
not per query; under light load batches are of one, under heavy load they grow), and LoadGen's
`server_coalesce_queries` hands every query already due when its issuing thread gets to it over
in one issue call:
- "inline" (the default): the coalesced issue call runs its queries itself, on LoadGen's issuing
  thread: no hand-over, so lower latency, and on the quiet 2-vCPU VM a higher peak too (2.0 M
  against 1.68 M QPS); under other jobs it once collapsed where the worker kept up.
- "worker" (this module): the issue callback only enqueues; one worker thread takes everything
  pending (up to `max_batch` samples) and runs it, so LoadGen's issuing and the runtime use both
  cores. Each hand-over wakes the worker and passes the GIL, which costs latency.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

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
                self._answer(ids[start:start + self.max_batch], indices[start:start + self.max_batch])

    def _answer(self, ids: list[int], indices: list[int]) -> None:
        if self.failure is None:
            try:
                self.run(ids, indices)
                return
            except Exception as exc:  # never lose the worker: LoadGen would wait forever
                self.failure = f"{type(exc).__name__}: {exception_line(exc, 200)}"
        self.empty(ids, indices)
