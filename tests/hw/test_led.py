"""The status LED: states from a scripted event sequence, shown on gpiozero mock pins."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from secondself.core.bus import Bus
from secondself.core.events import (
    AnswerDone,
    ButtonPressed,
    Event,
    Listening,
    MemorySaved,
    MicMuted,
    NothingHeard,
    SnapshotTaken,
    Speaking,
    SpeakingDone,
    SpeechEnded,
    StageError,
    Transcript,
    VoiceMemoEnded,
    VoiceMemoStarted,
    WakeDetected,
)
from secondself.hw.led import LedState, LedStateMachine, StatusLed

pytestmark = pytest.mark.unit

S = LedState


def _with_t(event: Event, t: float) -> Event:
    data = event.to_dict()
    data.pop("event")
    data["t"] = t
    return type(event)(**data)


# (time, event, LED state after it)
SCRIPT: list[tuple[float, Event, LedState]] = [
    (0.0, WakeDetected(model="hey_jarvis", score=0.9), S.LISTENING),
    (0.1, Listening(follow_up=False), S.LISTENING),
    (2.0, SpeechEnded(duration_s=1.5, reason="silence"), S.THINKING),
    (2.3, Transcript(text="what is my dog called", duration_s=1.5, seconds=0.3), S.THINKING),
    (2.9, Speaking(sentence="Biscuit.", synth_s=0.1), S.SPEAKING),
    (
        3.0,
        AnswerDone(text="Biscuit.", backend="local", first_token_s=0.2, seconds=0.5, tokens=3),
        S.SPEAKING,
    ),
    (4.0, SpeakingDone(), S.IDLE),
    (4.1, Listening(follow_up=True), S.LISTENING),
    (9.1, NothingHeard(waited_s=5.0), S.IDLE),
    # A voice memo from the button.
    (10.0, ButtonPressed(action="short"), S.IDLE),
    (10.4, VoiceMemoStarted(), S.LISTENING),
    (13.0, VoiceMemoEnded(duration_s=2.0, reason="silence"), S.THINKING),
    (13.5, MemorySaved(memory_id=1, kind="voice_note", source="button"), S.SAVING),
    (14.6, VoiceMemoStarted(), S.LISTENING),  # the saving flash is over by now
    (19.0, VoiceMemoEnded(duration_s=0.0, reason="nothing-heard"), S.IDLE),
    # Muted: stays muted whatever the voice path says, flashes still show over it.
    (20.0, MicMuted(muted=True), S.MUTED),
    (21.0, SnapshotTaken(path="/x.jpg", memory_id=2), S.SAVING),
    (22.5, Listening(follow_up=True), S.MUTED),
    (23.0, StageError(stage="camera", code="camera-no-frame", message="no picture"), S.ERROR),
    (25.0, MicMuted(muted=False), S.IDLE),
]


def test_states_follow_the_scripted_events() -> None:
    machine = LedStateMachine()
    got = [(event.name, machine.on_event(_with_t(event, t))) for t, event, _ in SCRIPT]
    assert got == [(event.name, state) for _, event, state in SCRIPT]


def test_flashes_end_on_tick() -> None:
    machine = LedStateMachine({S.SAVING: 1.0, S.ERROR: 1.5})
    machine.on_event(_with_t(Speaking(sentence="x", synth_s=0.1), 0.0))
    machine.on_event(_with_t(StageError(stage="stt", code="x", message="x"), 1.0))
    assert machine.state is S.ERROR and machine.deadline == pytest.approx(2.5)
    assert machine.tick(2.4) is S.ERROR
    assert machine.tick(2.5) is S.IDLE  # an error ends the turn
    assert machine.deadline is None


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory(pin_class=MockPWMPin)
    yield mock
    mock.reset()


def eventually(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def toggles(pin: MockPWMPin, since: int) -> bool:
    """The pin went on and off again (a blink or a pulse) after history entry `since`."""
    values = [s.state for s in pin.states[since:]]
    return any(v > 0.5 for v in values) and any(v < 0.1 for v in values[1:])


def test_rgb_led_pins_follow_the_script(factory: MockFactory) -> None:
    bus = Bus()
    led = StatusLed("rgb", [5, 6, 13], bus, pin_factory=factory, auto_tick=False)
    red, green, blue = (factory.pin(n) for n in (5, 6, 13))

    def rgb() -> tuple[float, float, float]:
        return (red.state, green.state, blue.state)

    try:
        assert rgb() == (0, 0, 0)
        solid = {
            S.IDLE: (0, 0, 0),
            S.LISTENING: (0, 0, 1),
            S.SPEAKING: (0, 0.6, 1),
            S.MUTED: (1, 0, 0),
            S.SAVING: (0, 1, 0),
        }
        for t, event, state in SCRIPT:
            mark = len(blue.states), len(red.states)
            bus.publish(_with_t(event, t))
            led.tick(t)
            assert led.state is state
            if state in solid:
                assert rgb() == pytest.approx(solid[state]), (event.name, state)
            elif state is S.THINKING:
                assert eventually(lambda m=mark: toggles(blue, m[0])), "blue breathes"
                assert red.state == 0 and green.state == 0
            elif state is S.ERROR:
                assert eventually(lambda m=mark: toggles(red, m[1])), "red blinks"
                assert green.state == 0 and blue.state == 0
    finally:
        led.close()
    assert rgb() == (0, 0, 0)


def test_single_led_brightness_per_state(factory: MockFactory) -> None:
    bus = Bus()
    led = StatusLed("pwm", [27], bus, pin_factory=factory, auto_tick=False)
    pin = factory.pin(27)
    try:
        steps: list[tuple[Event, float | None]] = [
            (WakeDetected(model="m", score=1.0), 1.0),
            (Speaking(sentence="x", synth_s=0.1), 0.4),
            (SpeakingDone(), 0.0),
            (MicMuted(muted=True), 0.05),
            (MicMuted(muted=False), 0.0),
            (MemorySaved(memory_id=1, kind="note", source="voice"), None),  # blinks
        ]
        for event, level in steps:
            mark = len(pin.states)
            bus.publish(event)
            if level is None:
                assert eventually(lambda m=mark: toggles(pin, m))
            else:
                assert pin.state == pytest.approx(level), event.name
        led.tick(time.monotonic() + 5)  # the flash ends: back to idle, off
        assert pin.state == 0
    finally:
        led.close()


def test_flash_ends_by_itself_with_the_timer_thread(factory: MockFactory) -> None:
    bus = Bus()
    led = StatusLed("pwm", [27], bus, pin_factory=factory, flash_s={S.SAVING: 0.1})
    try:
        bus.publish(WakeDetected(model="m", score=1.0))
        bus.publish(MemorySaved(memory_id=1, kind="note", source="voice"))
        assert led.state is S.SAVING
        assert eventually(lambda: led.state is S.LISTENING)
        assert eventually(lambda: factory.pin(27).state == 1.0)
    finally:
        led.close()


def test_rgb_needs_three_pins(factory: MockFactory) -> None:
    with pytest.raises(ValueError, match="3 pins"):
        StatusLed("rgb", [5], Bus(), pin_factory=factory, auto_tick=False)
