"""Progress for long runs (import, re-embedding, index builds), written to stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]  # (done, total)


def silent(done: int, total: int) -> None:
    pass


class StderrProgress:
    """A one-line bar on a terminal; a line per ~10% when stderr is a file or a pipe."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self._last_tenth = -1
        self._last_draw = 0.0

    def __call__(self, done: int, total: int) -> None:
        total = max(total, 1)
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = done / elapsed
        if self.tty:
            now = time.monotonic()
            if done < total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            filled = int(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total} ({rate:.0f}/s){end}")
            self.stream.flush()
            return
        tenth = 10 * done // total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {done}/{total} ({rate:.0f}/s)\n")
            self.stream.flush()
