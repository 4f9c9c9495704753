"""Reference workloads timed in lockstep with the measurement, in a companion process.

The host's slow phases last seconds to tens of seconds and hit dispatch-bound work (many tiny
torch calls) much harder than memory-bound work. A reference of the SAME kind, timed in the
block right after each workload block, sees the same host state; the workload block divided by
its reference block cancels it (bench/engine/estimate.py uses the ratio only where it
verifiably tracks).
  - dispatch: 20 torch.add calls on 1-element tensors (the interpreter + dispatcher path that
    a small batch of a torch runtime spends its time in);
  - autograd: one L1 + SGD step of a fixed two-parameter model on 40 points, lr 0 so every
    step does the same work (a small training epoch is autograd's and the optimizer's path,
    which the dispatch reference does not track: measured 1.45x vs 1.07x across runs);
  - ort: one onnxruntime io_binding run of a fixed 1-element Add graph (ORT's own call path);
  - stream: one torch.add over 10^6 float32 (memory-bound, like a large batch);
  - ort-stream: one onnxruntime io_binding run of a fixed Mul + Add graph over 10^6 float32 at
    the run's thread count: ORT's large batches (ORT's own kernels and thread pool, which the
    torch stream does not track: across six processes ONNX Runtime at 10^6 moved 1.15x, its
    ratio to the torch stream 1.09x, to this reference 1.04x);
  - ort-line: the same arithmetic in the shape the project's ONNX export has (Reshape, Mul, Add,
    Reshape on [10^6, 1]: export/graphs.py FlatLine), built here from fixed constants. Its output
    Reshape costs a pass that the flat graph does not (in one process the exported model took
    1.52x ort-stream's time and 1.05x this one's), so it moves with ONNX Runtime at large
    batches where ort-stream did not: over 20 + 20 alternating runs on the AMD VM the host ratio's run-to-run sd fell
    from 4.02% to 2.76% (max/min 1.193 to 1.121, per-process excess 5.0% to 0.0%;
    results/ort-reference). ort-stream stays for a plug-in that names it.
The reference code is fixed and independent of the product's code under test, and it runs in
a companion process (bench/engine/companion.py), so the measured process's own state (its
threads, its allocator, its imports) cannot slow it: that state is part of what is measured.
"""
from __future__ import annotations

from typing import Any, Callable

from bench.engine.measurement import Spec

STREAM_FROM = 100_000      # batches / training sizes from here on are memory-bound here
SINGLE_THREADED = ("dispatch", "autograd", "ort")  # tiny calls: one thread, whatever the run's


LARGE_TWIN = {"ort": "ort-line"}  # a family whose large calls run in its own kernels, not torch's


def reference_kind(spec: Spec, family: str = "dispatch") -> str:
    """The reference of the same kind of work as `spec`: `family` for small sizes (what the
    runtime or training loop spends a small call in), from STREAM_FROM on the family's large
    twin, or `stream` (torch's memory-bound kernels)."""
    return LARGE_TWIN.get(family, "stream") if spec.batch_size >= STREAM_FROM else family


def _autograd() -> Callable[[], Any]:
    import torch

    w, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    x = torch.linspace(0, 1, 40).reshape(40, 1)
    target = 0.7 * x + 0.3
    opt = torch.optim.SGD([w, b], lr=0.0)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.l1_loss(x * w + b, target).backward()
        opt.step()
    return step


def _ort_bound(nodes: list[Any], shape: list[int], threads: int,
               extra: tuple[Any, ...] = ()) -> Callable[[], Any]:
    """One io_binding call of a fixed float graph x -> y of `shape` (constants a = 0.7, b = 0.3,
    and `extra` initializers), spinning off: the reference must not leave a spinning pool
    behind its block."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "reference", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        [helper.make_tensor("a", TensorProto.FLOAT, [1], [0.7]),
         helper.make_tensor("b", TensorProto.FLOAT, [1], [0.3]), *extra])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: the call graph leaves `a` unused, and ORT said so 16x
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x, y = np.ones(shape, np.float32), np.empty(shape, np.float32)
    binding = session.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_output("y", "cpu", 0, np.float32, shape, y.ctypes.data)
    run = session.run_with_iobinding
    keep = (onnx, x, y)  # the bound buffers live as long as the closure
    return lambda: run(binding) and keep


def _ort_call() -> Callable[[], Any]:
    """ORT's call path: a 1-element Add on one thread (tiny and single: no second spinning pool)."""
    from onnx import helper

    return _ort_bound([helper.make_node("Add", ["x", "b"], ["y"])], [1, 1], 1)


def _ort_stream() -> Callable[[], Any]:
    """ORT's large-batch path: y = x * 0.7 + 0.3 over 10^6 float32 (1-D: the [N, 1] layout is
    ORT's 100x trap), on the run's threads."""
    import torch
    from onnx import helper

    nodes = [helper.make_node("Mul", ["x", "a"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])]
    return _ort_bound(nodes, [1_000_000], torch.get_num_threads())


def _ort_line() -> Callable[[], Any]:
    """The exported graph's shape: [10^6, 1] -> Reshape [-1] -> Mul -> Add -> Reshape [-1, 1]."""
    import torch
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Reshape", ["x", "flat"], ["f"]), helper.make_node("Mul", ["f", "a"], ["t"]),
             helper.make_node("Add", ["t", "b"], ["u"]), helper.make_node("Reshape", ["u", "column"], ["y"])]
    shapes = (helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
              helper.make_tensor("column", TensorProto.INT64, [2], [-1, 1]))
    return _ort_bound(nodes, [1_000_000, 1], torch.get_num_threads(), shapes)


def reference_workload(kind: str) -> Callable[[], Any]:
    import torch

    if kind == "autograd":
        return _autograd()
    if kind == "ort":
        return _ort_call()
    if kind == "ort-stream":
        return _ort_stream()
    if kind == "ort-line":
        return _ort_line()
    if kind == "dispatch":
        a, b = torch.ones(1), torch.ones(1)

        def dispatch() -> None:
            for _ in range(20):
                torch.add(a, b)
        return dispatch
    if kind != "stream":
        raise ValueError(f"unknown reference kind {kind!r}")
    x, y = torch.ones(1_000_000), torch.ones(1_000_000)
    out = torch.empty_like(x)
    return lambda: torch.add(x, y, out=out)
