"""A minimal progress bar on stderr that stays quiet when stderr is not a terminal."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`with Progress(total, "train") as bar: bar.update(1)`; redraws at most 10 times a second."""

    def __init__(
        self, total: int, label: str, stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else enabled
        self.done = 0
        self._start = time.monotonic()
        self._last_draw = 0.0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= 0.1 or self.done >= self.total):
            self._last_draw = now
            self._draw(note)

    def _draw(self, note: str) -> None:
        width = 30
        frac = self.done / self.total if self.total else 1.0
        filled = int(width * min(frac, 1.0))
        bar = "#" * filled + "-" * (width - filled)
        elapsed = time.monotonic() - self._start
        line = f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s {note}"
        self.stream.write(line[:120].ljust(80))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False
