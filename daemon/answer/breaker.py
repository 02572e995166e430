"""The cloud client's circuit breaker: after repeated failures, stop asking for a while."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"  # requests go through
    OPEN = "open"  # failing: requests are refused at once, for `open_s`
    HALF_OPEN = "half-open"  # one probe request is in flight; its outcome decides


class CircuitBreaker:
    """After `failures` failures in a row, refuse requests for `open_s` seconds, then let one
    probe through: success closes the breaker, failure opens it again. Thread-safe."""

    def __init__(
        self,
        failures: int,
        open_s: float,
        clock: Clock = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.failures_to_open = failures
        self.open_s = open_s
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def ready(self) -> bool:
        """Whether `allow()` would let a request through now (without taking the probe)."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return self._clock() - self._opened_at >= self.open_s
            return self._state is BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a request may go now (in the open state after `open_s`: the probe)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN:
                return False  # one probe at a time
            if self._clock() - self._opened_at < self.open_s:
                return False
            changed = self._set(BreakerState.HALF_OPEN)
        self._notify(changed)
        return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            changed = self._set(BreakerState.CLOSED)
        self._notify(changed)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            changed = None
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failures_to_open:
                self._opened_at = self._clock()
                changed = self._set(BreakerState.OPEN)
        self._notify(changed)

    def _set(self, state: BreakerState) -> BreakerState | None:
        if state is self._state:
            return None
        self._state = state
        return state

    def _notify(self, changed: BreakerState | None) -> None:
        if changed is not None and self._on_change is not None:
            self._on_change(changed)  # outside the lock: a subscriber may ask the state
