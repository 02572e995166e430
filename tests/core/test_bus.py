from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest

from secondself.core.bus import Bus, JsonLinesLog
from secondself.core.events import Event, Transcript, WakeDetected, event_from_dict, event_types

pytestmark = pytest.mark.unit


def test_events_are_frozen_and_timestamped() -> None:
    first = WakeDetected(model="hey_jarvis", score=0.9)
    second = WakeDetected(model="hey_jarvis", score=0.8)
    assert second.t >= first.t
    with pytest.raises(AttributeError):
        first.score = 0.1  # type: ignore[misc]


def test_round_trip_through_dict() -> None:
    event = Transcript(text="hello", duration_s=1.5, seconds=0.1)
    assert event_from_dict(event.to_dict()) == event
    assert "Transcript" in event_types()


def test_callbacks_see_events_in_order_and_a_broken_one_does_not_stop_others() -> None:
    bus = Bus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.on(broken)
    unsubscribe = bus.on(seen.append)
    events = [WakeDetected(model="m", score=float(i) / 10) for i in range(3)]
    for event in events:
        bus.publish(event)
    unsubscribe()
    bus.publish(WakeDetected(model="m", score=1.0))
    assert seen == events


def test_async_subscribers_receive_events_published_from_threads() -> None:
    async def scenario() -> list[Event]:
        bus = Bus()
        received: list[Event] = []
        ready = asyncio.Event()

        async def consume() -> None:
            stream = bus.events()
            ready.set()
            async for event in stream:
                received.append(event)
                if len(received) == 3:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)  # let the subscriber register its queue
        await ready.wait()
        await asyncio.sleep(0)

        def worker() -> None:
            for i in range(3):
                bus.publish(WakeDetected(model="m", score=i / 10))

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        await asyncio.wait_for(task, 5)
        return received

    received = asyncio.run(scenario())
    assert [e.score for e in received if isinstance(e, WakeDetected)] == [0.0, 0.1, 0.2]


def test_json_lines_log_redacts_what_was_said() -> None:
    stream = io.StringIO()
    log = JsonLinesLog(stream)
    log(Transcript(text="my secret", duration_s=1.0, seconds=0.2))
    line = json.loads(stream.getvalue())
    assert line["event"] == "Transcript"
    assert "secret" not in stream.getvalue()
    assert line["text"] == "<9 chars>"
