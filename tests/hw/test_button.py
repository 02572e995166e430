"""The button: the pure press classifier over times, and the gpiozero adapter on mock pins."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from secondself.core.bus import Bus
from secondself.core.events import ButtonPressed, Event
from secondself.hw.button import ButtonState, GpioButton, Press, PressClassifier, PressTimings

pytestmark = pytest.mark.unit

TIMINGS = PressTimings(hold_s=0.8, double_s=0.4)


def run(edges: list[tuple[str, float]], timings: PressTimings = TIMINGS) -> list[Press]:
    """Feed ("press" | "release" | "tick", t) edges; every press completed, in order."""
    classifier = PressClassifier(timings)
    done: list[Press] = []
    for edge, t in edges:
        done += getattr(classifier, edge)(t)
    return done


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ([("press", 0), ("release", 0.1), ("tick", 0.49)], []),  # a second press may follow
        ([("press", 0), ("release", 0.1), ("tick", 0.5)], [Press.SHORT]),
        ([("press", 0), ("tick", 0.79)], []),
        ([("press", 0), ("tick", 0.8), ("release", 2.0), ("tick", 5)], [Press.LONG]),
        # No tick came while held (a busy machine): the release still makes it long.
        ([("press", 0), ("release", 1.0), ("tick", 5)], [Press.LONG]),
        (
            [("press", 0), ("release", 0.1), ("press", 0.3), ("release", 0.4), ("tick", 5)],
            [Press.DOUBLE],
        ),
        # The second press came after the window: two short presses.
        (
            [("press", 0), ("release", 0.1), ("press", 0.6), ("release", 0.7), ("tick", 1.2)],
            [Press.SHORT, Press.SHORT],
        ),
        # A double press whose second press is held does not also make a long press.
        (
            [("press", 0), ("release", 0.1), ("press", 0.3), ("tick", 2.0), ("release", 2.1)],
            [Press.DOUBLE],
        ),
        # Spurious edges: a release first (down at start-up), a repeated press.
        (
            [("release", 0), ("press", 1), ("press", 1.05), ("release", 1.1), ("tick", 2)],
            [Press.SHORT],
        ),
    ],
    ids=[
        "pending",
        "short",
        "not-yet-long",
        "long",
        "long-late-tick",
        "double",
        "two-shorts",
        "double-held",
        "spurious",
    ],
)
def test_classifier(edges: list[tuple[str, float]], expected: list[Press]) -> None:
    assert run(edges) == expected


def test_without_double_press_a_short_press_fires_on_release() -> None:
    assert run([("press", 0), ("release", 0.1)], PressTimings(0.8, 0.0)) == [Press.SHORT]


def test_deadline_says_when_to_tick() -> None:
    c = PressClassifier(TIMINGS)
    assert c.deadline is None
    c.press(10.0)
    assert c.deadline == pytest.approx(10.8)
    c.release(10.2)
    assert c.state is ButtonState.WAIT_SECOND
    assert c.deadline == pytest.approx(10.6)
    assert c.tick(10.6) == [Press.SHORT]
    assert c.deadline is None and c.state is ButtonState.UP


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory()
    yield mock
    mock.reset()


def pressed(bus: Bus) -> list[str]:
    seen: list[str] = []
    bus.on(lambda e: seen.append(e.action) if isinstance(e, ButtonPressed) else None)
    return seen


def test_gpio_button_on_mock_pins_with_mock_time(factory: MockFactory) -> None:
    bus = Bus()
    seen = pressed(bus)
    clock = FakeClock()
    button = GpioButton(17, bus, TIMINGS, pin_factory=factory, clock=clock, auto_tick=False)
    pin = factory.pin(17)
    try:
        pin.drive_low()  # pressed: the button pulls the pin to ground
        clock.t += 0.1
        pin.drive_high()
        button.tick()
        assert seen == []
        clock.t += 0.4
        button.tick()
        assert seen == ["short"]

        pin.drive_low()
        clock.t += 0.9
        button.tick()
        assert seen == ["short", "long"]  # while still held
        pin.drive_high()

        pin.drive_low()
        clock.t += 0.05
        pin.drive_high()
        clock.t += 0.1
        pin.drive_low()
        assert seen == ["short", "long", "double"]
        pin.drive_high()
        clock.t += 5
        button.tick()
        assert seen == ["short", "long", "double"]
    finally:
        button.close()


def test_gpio_button_timer_thread_fires_the_deadlines(factory: MockFactory) -> None:
    bus = Bus()
    got = threading.Event()
    events: list[ButtonPressed] = []

    def on(event: Event) -> None:
        if isinstance(event, ButtonPressed):
            events.append(event)
            got.set()

    bus.on(on)
    button = GpioButton(17, bus, PressTimings(hold_s=0.15, double_s=0.05), pin_factory=factory)
    pin = factory.pin(17)
    try:
        pin.drive_low()
        pin.drive_high()
        assert got.wait(2)
        got.clear()
        pin.drive_low()
        assert got.wait(2)  # the long press fires while the button is held
        pin.drive_high()
    finally:
        button.close()
    assert [e.action for e in events] == ["short", "long"]
