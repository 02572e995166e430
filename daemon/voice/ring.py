"""The microphone's sample ring: the PortAudio callback writes into it, one reader takes out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray


class SampleRing:
    """Single-writer (the PortAudio thread), single-reader ring of int16 samples.

    The writer copies into preallocated memory under a lock held for one memcpy; when the
    reader falls more than `capacity` behind, the oldest samples are dropped and counted.
    """

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.int16)
        self._cond = threading.Condition(threading.Lock())
        self._written = 0  # samples ever written
        self._read = 0  # samples ever read
        self.dropped = 0
        self.writes = 0
        self.last_write = time.monotonic()
        self.waker: Callable[[], None] | None = None  # set by an asyncio reader

    def write(self, block: NDArray[np.int16]) -> None:
        n = min(block.shape[0], self._buf.size)
        cap = self._buf.size
        with self._cond:
            start = self._written % cap
            first = min(n, cap - start)
            self._buf[start : start + first] = block[:first]
            self._buf[: n - first] = block[first:n]
            self._written += n
            behind = self._written - self._read - cap
            if behind > 0:
                self._read += behind
                self.dropped += behind
            self.writes += 1
            self.last_write = time.monotonic()
            self._cond.notify()
        waker = self.waker
        if waker is not None:
            waker()

    def take(self) -> tuple[NDArray[np.int16], float]:
        """Every unread sample (a copy) and when the newest of them arrived."""
        cap = self._buf.size
        with self._cond:
            n = self._written - self._read
            start = self._read % cap
            if start + n <= cap:
                out = self._buf[start : start + n].copy()
            else:
                out = np.concatenate([self._buf[start:], self._buf[: n - (cap - start)]])
            self._read += n
            return out, self.last_write

    def wait(self, timeout: float | None) -> bool:
        """Waits until unread samples exist; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._written > self._read, timeout)

    def poke(self) -> None:
        """Wakes readers without data (the stream ended)."""
        with self._cond:
            self._cond.notify_all()
        waker = self.waker
        if waker is not None:
            waker()
