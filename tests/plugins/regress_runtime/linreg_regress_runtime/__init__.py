"""A runtime and a training variant whose code really changes when LINREG_REGRESS=KIND is set.

- runtime `regress`: y = w * x + b from the checkpoint, torch.mul into a preallocated output and
  add_ in place (bit-exact with the state_dict model), then a redundant in-place pass over half
  of the output (what KIND=speedup removes), a snapshot copy of 25% of it (a temporary), and
  whatever per-call work KIND adds;
- variant `regress`: the tutorial's eager step (L1 loss, SGD lr 0.01, two parameters), then a
  redundant no-grad evaluation of the loss (what KIND=speedup removes), a 2 MiB snapshot copy,
  and KIND's per-call work.
KIND and what it changes: effects.py. The effect is read and switched on when the runtime loads
or the loop is built, in the measuring worker; unset, both are the baseline ("old") code.
"""
from __future__ import annotations

from typing import Any

from bench.runtimes.base import Artifacts, Bound
from bench.training.loops import EagerLoop
from linreg.errors import LinregError

from linreg_regress_runtime.effects import (ENV, HEAD_COPY_PCT, KINDS, MEMORY_PCT, REDUNDANT_PCT,
                                            SNAPSHOT_FLOATS, Effect, active, effect)

SPIN_INFERENCE = 40   # python: loop iterations per inference call (~1 us: ~10-15% at batch 1)
SPIN_TRAINING = 1800  # python: per training step (~30 us: ~10-15% of an N=40 step)
TRAIN_SCRATCH = 1 << 19  # memory: float32 elements the training step also passes over (2 MiB)

__all__ = ["ENV", "KINDS", "Effect", "RegressLoop", "RegressRuntime", "active", "effect"]


class RegressRuntime:
    name = "regress"
    artifact = "checkpoint"   # what it loads: checkpoint | torchscript | onnx | exported_program
    compiled = False          # no code generation: bit-exact parity is required
    needs_cuda = False

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None:
        import torch

        from linreg.checkpoint import load_model
        from linreg.models import line_parameters

        if device != "cpu":
            raise LinregError(f"regress runs on the CPU only, not {device}")  # a skip record
        torch.set_num_threads(threads)  # before the effect: its threads' matmuls use this count
        try:
            self.effect = active()
        except (ValueError, OSError) as exc:
            raise LinregError(str(exc)) from None
        _, model = load_model(artifacts.checkpoint, "cpu")  # weights_only: a stranger's file runs nothing
        weight, bias = line_parameters(model)
        self.w = weight.detach().clone()  # 0-d float32; detached: out= refuses autograd leaves
        self.b = bias.detach().clone()

    def bind(self, x: Any, effect: Effect | None = None) -> Bound:
        """The timed call on input x; `effect` (default: this process's) is what the call consults."""
        import torch

        xd = x.contiguous()
        y = torch.empty_like(xd)
        n = xd.shape[0]
        redundant = y[: max(1, n * REDUNDANT_PCT // 100)]  # the redundant pass (speedup drops it)
        passed = y[n - max(1, n * MEMORY_PCT // 100):]      # memory: the extra pass
        head = y[: max(1, n * HEAD_COPY_PCT // 100)]        # the snapshot copy's source
        w, b, one = self.w, self.b, torch.ones(())  # one: a 0-d tensor (a Python 1.0 costs 2.6 us)
        eff = effect or self.effect

        def call() -> None:
            torch.mul(xd, w, out=y)
            y.add_(b)
            if eff.redundant:
                redundant.mul_(one)                # exact: the output keeps its bits
            head.clone()                           # a temporary: allocated, written, freed
            if eff.extra_pass:
                passed.mul_(one)
            if eff.spin:
                eff.python_work(SPIN_INFERENCE)

        def output() -> Any:
            call()
            return y.clone()

        return Bound(call=call, output=output, context=torch.no_grad)


class RegressLoop(EagerLoop):
    """The tutorial's eager loop (bench.training.loops.EagerLoop) plus the effect's per-step work."""

    parity_atol = None   # bit-exact with the eager loop: the extra work never touches the parameters
    compiled = False
    needs_cuda = False

    def __init__(self, X: Any, y: Any, device: str, effect: Effect | None = None) -> None:
        import torch

        super().__init__(X, y, device)
        self.effect = effect or active()
        self.scratch = torch.ones(TRAIN_SCRATCH)  # memory: a buffer the step also passes over
        self.metrics = torch.ones(SNAPSHOT_FLOATS)  # copied each step: the step's large temporary
        self._one = torch.ones(())
        self._no_grad = torch.no_grad

    def step(self) -> None:
        super().step()
        eff = self.effect
        if eff.redundant:
            with self._no_grad():  # redundant: the loss again, as a logging line might
                self.loss_fn(self.model(self.X), self.y)
        self.metrics.clone()       # a snapshot: allocated, written, freed
        if eff.extra_pass:
            self.scratch.mul_(self._one)
        if eff.spin:
            eff.python_work(SPIN_TRAINING)
