"""SIGTERM as an interruption like Ctrl-C, so a run can keep what it finished.

A `run` is minutes of work: Ctrl-C (SIGINT -> KeyboardInterrupt) or SIGTERM (a CI job's
timeout, `kill`) must still write results.json with what was measured, marked partial.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; a KeyboardInterrupt so every Ctrl-C path handles it the same way."""


def interruption_reason(exc: BaseException) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT (Ctrl-C)"


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside: SIGTERM raises Terminated in the main thread (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
