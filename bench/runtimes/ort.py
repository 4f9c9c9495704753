"""ONNX Runtime: timed through io_binding, and the probe of its pool slowing torch in one process."""
from __future__ import annotations

import statistics
from typing import Any, Callable

import numpy as np

from bench.engine.devices import is_cuda
from bench.engine.timing import TimingConfig, time_each_call
from bench.runtimes.base import Artifacts, Bound, artifact_path, make_input
from linreg.device import parse_device


class OrtRuntime:
    """ONNX Runtime through io_binding: input bound once, output preallocated, no copies per call.

    On CUDA the input and output live on the GPU (OrtValues) and `sync` is the binding's
    synchronize_outputs, so timing never stops before the device has finished.
    """

    name = "onnxruntime"

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None:
        from export.loaders import make_ort_session

        self.device = device
        self.session = make_ort_session(artifact_path(artifacts, "onnx"), device, threads,
                                        check_graph=not artifacts.unchecked_onnx)
        self.provider = self.session.get_providers()[0]

    def bind(self, x: Any) -> Bound:
        import onnxruntime as ort

        xn = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        binding = self.session.io_binding()
        in_name = self.session.get_inputs()[0].name
        out_name = self.session.get_outputs()[0].name
        if is_cuda(self.device):
            index = parse_device(self.device).ordinal
            x_ov = ort.OrtValue.ortvalue_from_numpy(xn, "cuda", index)
            y_ov = ort.OrtValue.ortvalue_from_shape_and_type(list(xn.shape), np.float32, "cuda", index)
            sync: Callable[[], None] | None = binding.synchronize_outputs
        else:  # both OrtValues wrap the numpy arrays (no copy): the call reads xn and writes yn
            yn = np.empty_like(xn)
            x_ov = ort.OrtValue.ortvalue_from_numpy(xn)
            y_ov = ort.OrtValue.ortvalue_from_numpy(yn)
            sync = None
        binding.bind_ortvalue_input(in_name, x_ov)
        binding.bind_ortvalue_output(out_name, y_ov)
        session = self.session

        def call() -> None:
            session.run_with_iobinding(binding)

        def output() -> Any:
            call()
            if sync:
                sync()
            # numpy() reads host memory only; a CUDA output is copied back by the binding
            return binding.copy_outputs_to_cpu()[0] if sync else y_ov.numpy()

        bound = Bound(call=call, output=output, sync=sync, extra={"provider": self.provider})
        bound.extra["_keep"] = (x_ov, y_ov, xn)  # OrtValues must outlive the binding
        if not sync:
            bound.host_input, bound.host_output = xn, yn
        return bound


PROBE_TIMING = TimingConfig(warmup_calls=20, warmup_s=0.0)  # the probe's 20 warm calls per case


def probe_ort_interference(artifacts: Artifacts, threads: int, batch: int = 100_000,
                           calls: int = 300) -> dict[str, Any]:
    """Does an ORT run slow the next eager torch call in the same process? Timed four ways.

    Each of `calls` rounds optionally runs something once (untimed), then times ONE eager torch
    call right after it. Cases: torch alone; after an ORT run with ORT's defaults (spinning
    allowed); after an ORT run with session.intra_op.allow_spinning=0; after the same arithmetic
    in numpy (a control: same memory traffic, no ORT). ORT and torch both use `threads` intra-op
    threads. Returns median seconds per torch call for each case and the ratios to torch alone.
    It measures THAT torch slows down, not why: the cause is not established by this probe
    (turning spinning off did not remove the slowdown where it was measured).
    """
    import torch

    from export.loaders import make_ort_session
    from linreg.checkpoint import load_model

    torch.set_num_threads(threads)
    model = load_model(artifacts.checkpoint, "cpu")[1]
    x = make_input(batch)
    xn = np.ascontiguousarray(x.numpy())
    onnx = artifact_path(artifacts, "onnx")
    spinning, quiet = (make_ort_session(onnx, "cpu", threads, spinning=spin, check_graph=not artifacts.unchecked_onnx)
                       for spin in (True, False))
    feed = {spinning.get_inputs()[0].name: xn}
    buf = np.empty_like(xn)

    def numpy_line() -> None:  # the same memory traffic as the ORT run, without a thread pool
        np.multiply(xn, np.float32(0.5), out=buf)
        np.add(buf, np.float32(0.25), out=buf)

    def torch_after(before: Callable[[], Any] | None) -> float:
        with torch.no_grad():
            return statistics.median(time_each_call(lambda: model(x), calls, PROBE_TIMING,
                                                    before=before).times_s)

    alone_s = torch_after(None)
    after_numpy_s = torch_after(numpy_line)
    after_spin_s = torch_after(lambda: spinning.run(None, feed))
    after_quiet_s = torch_after(lambda: quiet.run(None, feed))
    alone = min(alone_s, torch_after(None))
    return {
        "batch": batch, "threads": threads, "calls": calls,
        "torch_alone_s": alone,
        "torch_after_ort_spinning_s": after_spin_s,
        "torch_after_ort_no_spin_s": after_quiet_s,
        "torch_after_numpy_s": after_numpy_s,
        "slowdown_spinning": after_spin_s / alone,
        "slowdown_no_spin": after_quiet_s / alone,
        "slowdown_numpy_control": after_numpy_s / alone,
    }
