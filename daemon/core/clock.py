"""One monotonic clock for every timestamp, so event times and durations compare."""

from __future__ import annotations

import time


def now() -> float:
    """Seconds on the monotonic clock shared by every event."""
    return time.monotonic()
