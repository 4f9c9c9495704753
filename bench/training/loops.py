"""The training loops a variant times: the tutorial's eager loop, and the same update fused by hand.

fused: the same update by hand, no autograd (r = sign(w*x + b - y) / N; w -= lr * sum(r*x);
b -= lr * sum(r)), bit-exact with autograd for L1 + SGD (tested). Every loop starts from the
tutorial model's initial parameters (seed 42) and has `step()` and `parameters()`.
"""
from __future__ import annotations

from typing import Any, Callable

from bench.engine.devices import device_context

TUTORIAL_N = 40      # the tutorial's train split: 40 of arange(0, 1, 0.02)
LR = 0.01            # the tutorial's SGD learning rate


def make_train_data(n: int, device: str) -> tuple[Any, Any]:
    """(X, y) of N training samples: the tutorial's 40-point split at N=40, else N even points."""
    from linreg.data import make_linear_data, make_linear_samples, split_train_test

    if n == TUTORIAL_N:
        X, y, _, _ = split_train_test(*make_linear_data())
    else:
        X, y = make_linear_samples(n)
    return X.to(device), y.to(device)


def initial_parameters(seed: int = 42) -> tuple[Any, Any]:
    """The tutorial model's initial (weights, bias), shape [1] each, from its seed."""
    import torch

    from linreg.models import LinearRegressionModel

    torch.manual_seed(seed)
    model = LinearRegressionModel()
    return model.weights.detach().clone(), model.bias.detach().clone()


class EagerLoop:
    """The tutorial's loop, as linreg.train runs it."""

    def __init__(self, X: Any, y: Any, device: str) -> None:
        import torch
        from torch import nn

        from linreg.models import LinearRegressionModel
        from linreg.train import train_epoch

        w, b = initial_parameters()
        self.model = LinearRegressionModel().to(device)
        with torch.no_grad():
            self.model.weights.copy_(w)
            self.model.bias.copy_(b)
        self.loss_fn = nn.L1Loss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.X, self.y = X, y
        self._train_epoch = train_epoch  # imported once here, not inside the timed step

    def step(self) -> None:
        self._train_epoch(self.model, self.loss_fn, self.optimizer, self.X, self.y)

    def parameters(self) -> tuple[Any, Any]:
        return self.model.weights.detach(), self.model.bias.detach()


def fused_update(w: Any, b: Any, x: Any, y: Any, lr: float = LR) -> None:
    """One L1 + SGD step without autograd, in place; the same float32 operations autograd runs."""
    import torch

    r = torch.sign(w * x + b - y) / x.shape[0]   # d(mean |pred - y|) / d pred
    w.add_((r * x).sum().reshape(w.shape), alpha=-lr)  # SGD: p += -lr * grad, as torch.optim does
    b.add_(r.sum().reshape(b.shape), alpha=-lr)


class FusedLoop:
    """The fused step on preallocated parameters; `compiled` wraps it in torch.compile."""

    def __init__(self, X: Any, y: Any, device: str, compiled: bool = False) -> None:
        import torch

        w, b = initial_parameters()
        self.w, self.b = w.to(device), b.to(device)
        self.X, self.y = X, y
        self.fn: Callable[..., None] = torch.compile(fused_update, dynamic=False) if compiled else fused_update

    def step(self) -> None:
        self.fn(self.w, self.b, self.X, self.y)

    def parameters(self) -> tuple[Any, Any]:
        return self.w, self.b


class CudaGraphLoop(FusedLoop):
    """The fused step captured in a CUDA graph; each step is one graph replay."""

    def __init__(self, X: Any, y: Any, device: str) -> None:
        with device_context(device):  # cuda:N: the side stream and the graph live on N
            self._capture(X, y, device)

    def _capture(self, X: Any, y: Any, device: str) -> None:
        import torch

        super().__init__(X, y, device)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        w0, b0 = self.w.clone(), self.b.clone()
        with torch.cuda.stream(stream):  # warm up on a side stream, as the CUDA graphs docs ask
            for _ in range(3):
                fused_update(self.w, self.b, self.X, self.y)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            fused_update(self.w, self.b, self.X, self.y)
        self.w.copy_(w0)  # capture does not run the step, but the warmups did: start over
        self.b.copy_(b0)

    def step(self) -> None:
        self.graph.replay()


def compiled_loop(X: Any, y: Any, device: str) -> FusedLoop:
    """The fused step under torch.compile (compiled at its first step, per size)."""
    return FusedLoop(X, y, device, compiled=True)
