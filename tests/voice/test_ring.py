"""The microphone's sample ring: order across the wrap, dropping when the reader lags, waking."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from secondself.voice.ring import SampleRing

pytestmark = pytest.mark.unit


def samples(start: int, count: int) -> NDArray[np.int16]:
    return np.arange(start, start + count, dtype=np.int16)


def test_samples_come_out_in_order_across_the_wrap() -> None:
    ring = SampleRing(8)
    ring.write(samples(0, 6))
    assert ring.take()[0].tolist() == list(range(6))
    ring.write(samples(6, 5))  # wraps past the end of the buffer
    assert ring.take()[0].tolist() == list(range(6, 11))
    assert ring.dropped == 0 and ring.writes == 2


def test_a_reader_that_falls_behind_loses_the_oldest_samples_and_they_are_counted() -> None:
    ring = SampleRing(8)
    ring.write(samples(0, 5))
    ring.write(samples(5, 5))
    assert ring.take()[0].tolist() == list(range(2, 10))
    assert ring.dropped == 2


def test_wait_returns_once_samples_arrive_and_false_on_timeout() -> None:
    ring = SampleRing(8)
    assert ring.wait(0.01) is False
    ring.write(samples(0, 1))
    assert ring.wait(0.01) is True
    ring.take()
    assert ring.wait(0.01) is False


def test_the_asyncio_waker_runs_on_each_write_and_on_poke() -> None:
    ring = SampleRing(8)
    woken: list[str] = []
    ring.waker = lambda: woken.append("woken")
    ring.write(samples(0, 2))
    ring.poke()
    assert woken == ["woken", "woken"]
    assert ring.take()[0].tolist() == [0, 1]  # poke adds no samples
