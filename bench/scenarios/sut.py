"""The system under test: one runtime of the registry behind LoadGen's SUT and QSL callbacks.

Sample i of the QSL is the input x_i = i / (sample_count - 1), a [1, 1] float32 column like the
rest of the benchmark's inputs. Loading a sample binds the runtime to it once (ORT io_binding,
device copy), so a batch-1 query does only the call. A query of several samples (multi-stream,
offline, a server batch) runs them as one batch.
What a query costs beyond the runtime's own call is LoadGen's (~0.8 us here, measured with an
empty SUT) plus what this file adds, so the serving path avoids copies and allocations where the
runtime lets it: when a Bound exposes the host arrays its call reads and writes (ORT io_binding
on the CPU), a batch-1 query is the call plus one response already pointing at the runtime's
output, and a batch of k samples reuses one binding per k, its inputs written in place.
Callbacks run on LoadGen's threads: an exception there must not escape into C++, so the first
one is kept as the failure and every later query is completed empty, letting the test end.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from linreg.errors import exception_line

Reusable = tuple[Callable[[], Any], np.ndarray, list[Any]]  # (call, flat input array, responses)


def runtime_entry_of(name: str) -> Any:
    """The registry's entry for `name` (built-in or plug-in); a broken plug-in raises its reason."""
    from bench.runtimes import runtime_entry, unavailable_reason
    from export.errors import RuntimeUnavailableError

    reason = unavailable_reason(name)
    if reason:
        raise RuntimeUnavailableError(reason)
    return runtime_entry(name)


def load_runtime(name: str, artifacts: Any, device: str, threads: int) -> Any:
    """A loaded runtime by registry name: the one place that knows how runtimes are made."""
    import torch

    torch.set_num_threads(threads)
    runtime = runtime_entry_of(name).make()
    runtime.load(artifacts, device, threads)
    return runtime


def parity_ulps_of(name: str, device: str) -> int:
    """The ULP distance the registry allows `name` on `device` (0: bit-exact)."""
    return runtime_entry_of(name).parity_ulps(device)


def is_compiled(name: str) -> bool:
    """Does `name` generate code at every bind (torch.compile)? Then the QSL holds one sample."""
    return bool(runtime_entry_of(name).compiled)


def sample_inputs(count: int) -> np.ndarray:
    """The QSL's inputs: `count` evenly spaced float32 points on [0, 1], shape [count, 1]."""
    return np.linspace(0.0, 1.0, count, dtype=np.float32).reshape(count, 1)


def as_float32(output: Any) -> np.ndarray:
    """A runtime's output (torch tensor on any device, or array) as a flat float32 copy on the host.

    Always a copy: an output may be a view into a buffer the runtime reuses or frees (an ORT
    OrtValue dies with its binding), and LoadGen reads the response after we return it.
    """
    if hasattr(output, "detach"):
        output = output.detach().cpu().numpy()  # a CUDA tensor: the copy waits for the kernel
    return np.array(output, dtype=np.float32, copy=True).reshape(-1)


class RuntimeSUT:
    """LoadGen callbacks around one loaded runtime; `failure` holds the first exception's line.

    One thread calls the runtime at a time: LoadGen issues every scenario's queries from one
    issuing thread, one call after the other, and with server batching "worker" only the
    DynamicBatcher's one thread runs them (so the preallocated buffers are never shared).
    """

    def __init__(self, runtime: Any, inputs: np.ndarray, batch: int,
                 complete: Callable[[list[Any]], None], response: Callable[[int, int, int], Any]) -> None:
        import torch

        self.runtime, self.inputs, self.batch = runtime, inputs, batch
        self.flat = inputs.reshape(-1)
        self.values = self.flat.tolist()  # Python floats: one is written into a binding per query
        self.tensors = torch.from_numpy(inputs)
        self.complete, self.response = complete, response  # lg.QuerySamplesComplete, lg.QuerySampleResponse
        self.in_place: bool | None = None  # does the runtime read and write host arrays in place?
        self.single: tuple[Callable[[], Any], np.ndarray, list[float], list[Any]] | None = None
        self.bound: dict[int, Any] = {}    # per sample, for runtimes that do not
        self.one = np.zeros(len(inputs), dtype=np.float32)  # batch-1 responses copied out of a runtime
        self.one_ptr = self.one.ctypes.data  # read once: .ctypes costs ~1 us per access
        # bucket size -> (call, its flat input array, responses pointing at each of its outputs)
        self.batches: dict[int, Reusable | None] = {}
        self.kept: list[Any] = []  # the reused bindings (and the arrays they point into)
        self.batches_run = self.samples_batched = 0
        self.failure: str | None = None

    def load_samples(self, indices: list[int]) -> None:
        """Bind each sample once, unless the runtime computes in place: then one batch-1 binding
        serves every sample (its input written per query), which keeps the working set hot."""
        for i in indices:
            if self.in_place is None:  # the first bind tells; a copy of the row, written later
                bound = self.runtime.bind(torch_rows(self.inputs, [i]))
                one = self.batches[1] = self._reusable(bound, 1)
                self.in_place = one is not None
                if one is not None:  # what a batch-1 query touches, in one tuple
                    self.single = (one[0], one[1], self.values, one[2])
                    self._make_buckets()
                else:
                    self.bound[i] = bound
            if not self.in_place and i not in self.bound:
                self.bound[i] = self.runtime.bind(self.tensors[i:i + 1])

    def unload_samples(self, indices: list[int]) -> None:
        for i in indices:
            self.bound.pop(i, None)

    def _fail(self, exc: Exception) -> None:
        self.failure = f"{type(exc).__name__}: {exception_line(exc, 200)}"

    def issue_fast(self, ids: list[int], indices: list[int]) -> None:
        """LoadGen's fast issue callback (ConstructFastSUT): response ids and QSL indices as lists."""
        single = self.single
        if len(ids) == 1 and self.failure is None:  # batch 1: one call, one preallocated response
            try:
                if single is not None:
                    call, x, values, replies = single
                    x[0] = values[indices[0]]
                    call()
                    replies[0].id = ids[0]  # LoadGen copies the response (and logged data) at once
                    self.complete(replies)
                else:
                    self._answer_copied(ids[0], indices[0])
                return
            except Exception as exc:  # a crashing runtime is a failed result, not a hang
                self._fail(exc)
        self.run_queries(ids, indices)

    def _answer_copied(self, response_id: int, i: int) -> None:
        out = self.bound[i].output()
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()  # a CUDA tensor: the copy waits for the kernel
        self.one[i:i + 1] = out.reshape(1)  # copies and converts; raises unless 1 value
        self.complete([self.response(response_id, self.one_ptr + 4 * i, 4)])

    def run_queries(self, ids: list[int], indices: list[int]) -> None:
        """Samples of any number of queries, run in batches of at most `batch`, answered per batch."""
        for start in range(0, len(ids), self.batch):
            self.run_batch(ids[start:start + self.batch], indices[start:start + self.batch])

    def run_batch(self, ids: list[int], indices: list[int]) -> None:
        """One runtime call for these samples, one QuerySamplesComplete for all of them."""
        self.batches_run += 1
        self.samples_batched += len(ids)
        if self.failure is None:
            try:
                n = len(ids)
                reused = self._batch_binding(n)
                if reused is not None:
                    call, x, replies = reused
                    np.take(self.flat, indices, out=x if n == x.size else x[:n])
                    call()
                    if n < len(replies):
                        replies = replies[:n]
                    for reply, q in zip(replies, ids):
                        reply.id = q
                    self.complete(replies)
                    return
                if n == 1 and indices[0] in self.bound:  # bound at load (torch.compile: compiled once)
                    self._answer_copied(ids[0], indices[0])
                    return
                y = self._predict(indices)
                if y.size != len(ids):
                    raise ValueError(f"runtime returned {y.size} values for {len(ids)} samples")
                base = y.ctypes.data  # y stays alive until QuerySamplesComplete returns (it copies)
                self.complete([self.response(q, base + 4 * k, 4) for k, q in enumerate(ids)])
                return
            except Exception as exc:
                self._fail(exc)
        self.answer_empty(ids, indices)

    def answer_empty(self, ids: list[int], indices: list[int]) -> None:
        """Empty responses, so LoadGen can finish a test whose result has already failed."""
        self.complete([self.response(q, 0, 0) for q in ids])

    def _batch_binding(self, k: int) -> Reusable | None:
        """The reused binding for a batch of k: the one for the smallest bucket >= k, or None."""
        return self.batches.get(bucket(k, self.batch)) if self.in_place else None

    def _make_buckets(self) -> None:
        """A binding per power-of-two batch size up to `batch` (and `batch` itself), made before
        the test: batches of other sizes run padded in the next one up (the padding's outputs are
        never answered), so no binding or response is ever made while LoadGen is timing."""
        import torch

        for size in sorted({bucket(k, self.batch) for k in range(1, self.batch + 1)} - {1}):
            self.batches[size] = self._reusable(self.runtime.bind(torch.zeros(size, 1)), size)

    def _reusable(self, bound: Any, k: int) -> Reusable | None:
        """(call, flat input array, k responses at its outputs) when `bound` computes in place."""
        x, out = host_array(bound.host_input, k), host_array(bound.host_output, k)
        if x is None or out is None or not x.flags.writeable:
            return None
        self.kept.append(bound)
        base = out.ctypes.data
        return bound.call, x.reshape(-1), [self.response(0, base + 4 * j, 4) for j in range(k)]

    def _predict(self, indices: list[int]) -> np.ndarray:
        # The Bound must outlive its call: it owns the buffers the runtime reads (ORT's io_binding
        # points into arrays kept in Bound.extra; `bind(x).output()` would free them mid-call).
        bound = self.runtime.bind(torch_rows(self.inputs, indices))
        y = as_float32(bound.output())
        del bound
        return y

    def flush_queries(self) -> None:
        pass

    def batch_stats(self) -> dict[str, Any]:
        """How the batches went: how many, how many samples, their mean size."""
        return {"batches": self.batches_run, "samples": self.samples_batched,
                "mean_batch": self.samples_batched / self.batches_run if self.batches_run else None}


def bucket(k: int, most: int) -> int:
    """The batch size a batch of k runs at: the next power of two, at most `most` (k <= most)."""
    return min(1 << (k - 1).bit_length(), most)


def torch_rows(inputs: np.ndarray, indices: list[int]) -> Any:
    """The rows `indices` as a new tensor (numpy's take: torch's list indexing costs ~14 us)."""
    import torch

    return torch.from_numpy(inputs[indices])


def host_array(array: Any, k: int) -> np.ndarray | None:
    """`array` when it is a contiguous host float32 array of k values, else None."""
    if isinstance(array, np.ndarray) and array.dtype == np.float32 and array.size == k \
            and array.flags.c_contiguous:
        return array
    return None
