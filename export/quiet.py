"""The one place where exporter and torch.jit noise is contained.

torch 2.13 deprecates all of torch.jit (a DeprecationWarning on every script/save/load), the
dynamo ONNX exporter logs `torchvision is not installed. Skipping torchvision::nms` (four times)
through the `torch.onnx` logger, prints `[torch.onnx] ...` progress lines unless verbose=False,
and emits a FutureWarning about `LeafSpec`. None of it is actionable for our users, so every
export and every load of an artifact runs inside `quiet()`. Real errors still raise.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

# Loggers whose warnings are exporter chatter, not user-facing problems.
NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "onnxscript")

# (category, message regex) pairs of warnings we know and accept. Anything else still shows.
KNOWN_WARNINGS: tuple[tuple[type[Warning], str], ...] = (
    (DeprecationWarning, r".*torch\.jit.*"),
    (DeprecationWarning, r".*TorchScript.*"),
    (FutureWarning, r".*LeafSpec.*"),
    (FutureWarning, r".*torch\.jit.*"),
    (UserWarning, r".*TorchScript.*"),
    (UserWarning, r".*torch\.jit.*"),
    (UserWarning, r".*dynamic_axes.*"),
    (DeprecationWarning, r".*onnxscript.*"),
    (DeprecationWarning, r".*onnx\.helper.*"),
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence known deprecation warnings, exporter logs and stray prints inside the block."""
    saved_levels = {}
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved_levels[name] = logger.level
        logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            for category, message in KNOWN_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            # Warnings raised from inside torch.jit / torch.onnx / onnxscript modules themselves.
            for module in (r"torch\.jit.*", r"torch\.onnx.*", r"onnxscript.*", r"torch\.export.*",
                           r"torch\._export.*", r"copyreg"):
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
                warnings.filterwarnings("ignore", category=FutureWarning, module=module)
            yield
    finally:
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
