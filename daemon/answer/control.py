"""One turn's switches: cancel it, and hold back what the user would notice until released."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from secondself.core.bus import Bus
from secondself.core.events import Event


class TurnControl:
    """One turn's switches: `cancel` (any thread) ends it; `release` lets out everything the
    user would notice (speaking, saving, forgetting, the turn's events) while the turn is
    speculative. An abandoned speculation leaves no trace, not even in the event log."""

    def __init__(self, bus: Bus, released: bool = True) -> None:
        self.cancel = threading.Event()
        self._bus = bus
        self._release = asyncio.Event()
        self._held: list[Event] = []
        self._lock = threading.Lock()
        if released:
            self._release.set()

    def publish(self, event: Event) -> None:
        """Publish now, or once released (any thread)."""
        with self._lock:
            if not self._release.is_set():
                self._held.append(event)
                return
        self._bus.publish(event)

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            self._release.set()
        for event in held:
            self._bus.publish(event)

    @property
    def was_released(self) -> bool:
        return self._release.is_set()

    async def released(self) -> bool:
        """Waits until released; False if the turn was cancelled before it was. A turn
        released and then cut short (barge-in, SIGTERM) still saves what the user said."""
        while not self._release.is_set():
            if self.cancel.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 0.05)
        return True
