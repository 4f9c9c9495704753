"""The system under test: one runtime of the registry behind LoadGen's SUT and QSL callbacks.

Sample i of the QSL is the input x_i = i / (sample_count - 1), a [1, 1] float32 column like the
rest of the benchmark's inputs. Loading a sample binds the runtime to it once (ORT io_binding,
device copy), so a batch-1 query does only the call. A query of several samples (multi-stream,
offline) runs them as one batch, bound when the query arrives.
Callbacks run on LoadGen's threads: an exception there must not escape into C++, so the first
one is kept as the failure and every later query is completed empty, letting the test end.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from linreg.errors import exception_line


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
    """LoadGen callbacks around one loaded runtime; `failure` holds the first exception's line."""

    def __init__(self, runtime: Any, inputs: np.ndarray, batch: int,
                 complete: Callable[[list[Any]], None], response: Callable[[int, int, int], Any]) -> None:
        import torch

        self.runtime, self.inputs, self.batch = runtime, inputs, batch
        self.tensors = torch.from_numpy(inputs)
        self.complete, self.response = complete, response  # lg.QuerySamplesComplete, lg.QuerySampleResponse
        self.bound: dict[int, Any] = {}
        self.one = np.zeros(len(inputs), dtype=np.float32)  # batch-1 responses, one slot per sample
        self.one_ptr = self.one.ctypes.data  # read once: .ctypes costs ~1 us per access
        self.failure: str | None = None
        self.lock = threading.Lock()  # LoadGen may issue from several threads (server)
        self.issued = 0

    def load_samples(self, indices: list[int]) -> None:
        for i in indices:
            if i not in self.bound:
                self.bound[i] = self.runtime.bind(self.tensors[i:i + 1])

    def unload_samples(self, indices: list[int]) -> None:
        for i in indices:
            self.bound.pop(i, None)

    def _predict(self, indices: list[int]) -> np.ndarray:
        if len(indices) == 1 and indices[0] in self.bound:
            return as_float32(self.bound[indices[0]].output())
        # The Bound must outlive its call: it owns the buffers the runtime reads (ORT's io_binding
        # points into arrays kept in Bound.extra; `bind(x).output()` would free them mid-call).
        bound = self.runtime.bind(self.tensors[indices])
        y = as_float32(bound.output())
        del bound
        return y

    def _fail(self, exc: Exception) -> None:
        self.failure = f"{type(exc).__name__}: {exception_line(exc, 200)}"

    def issue_fast(self, ids: list[int], indices: list[int]) -> None:
        """LoadGen's fast issue callback (ConstructFastSUT): response ids and QSL indices as lists."""
        with self.lock:
            self.issued += len(ids)
            if len(ids) == 1 and self.failure is None:  # batch 1: one call, one preallocated response
                i = indices[0]
                try:
                    out = self.bound[i].output()
                    if hasattr(out, "detach"):
                        out = out.detach().cpu().numpy()  # a CUDA tensor: the copy waits for the kernel
                    self.one[i:i + 1] = out.reshape(1)  # copies and converts; raises unless 1 value
                except Exception as exc:  # a crashing runtime is a failed result, not a hang
                    self._fail(exc)
                else:
                    self.complete([self.response(ids[0], self.one_ptr + 4 * i, 4)])
                    return
            for start in range(0, len(ids), self.batch):
                self._issue_chunk(ids[start:start + self.batch], indices[start:start + self.batch])

    def _issue_chunk(self, ids: list[int], indices: list[int]) -> None:
        y = None
        if self.failure is None:
            try:
                y = self._predict(indices)
                if y.size != len(ids):
                    raise ValueError(f"runtime returned {y.size} values for {len(ids)} samples")
            except Exception as exc:
                self._fail(exc)
                y = None
        if y is None:  # complete empty so LoadGen can finish; the result is failed
            self.complete([self.response(q, 0, 0) for q in ids])
            return
        base = y.ctypes.data  # y stays alive until QuerySamplesComplete returns (it copies)
        self.complete([self.response(q, base + 4 * k, 4) for k, q in enumerate(ids)])

    def flush_queries(self) -> None:
        pass
