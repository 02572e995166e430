"""The status LED: what the device is doing, from bus events, on an RGB or a single LED.

`LedStateMachine` is pure: events in (their own timestamps are the clock), a state out.
A base state follows the voice path (idle, listening, thinking, speaking); muted replaces
it while the microphone is off; error and saving are flashes shown over it for a moment.
`StatusLed` subscribes it to the bus and shows each state through gpiozero.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from secondself.core.bus import Bus
from secondself.core.clock import now
from secondself.core.events import (
    DaemonReady,
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
    VoiceMemoEnded,
    VoiceMemoStarted,
    WakeDetected,
)


class LedState(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    MUTED = "muted"
    ERROR = "error"
    SAVING = "saving"


FLASH_S: dict[LedState, float] = {LedState.ERROR: 1.5, LedState.SAVING: 1.0}


class LedStateMachine:
    def __init__(self, flash_s: Mapping[LedState, float] | None = None) -> None:
        self.flash_s = dict(FLASH_S if flash_s is None else flash_s)
        self.base = LedState.IDLE
        self.muted = False
        self.flash: LedState | None = None
        self._flash_until = 0.0

    @property
    def state(self) -> LedState:
        if self.flash is not None:
            return self.flash
        return LedState.MUTED if self.muted else self.base

    @property
    def deadline(self) -> float | None:
        return self._flash_until if self.flash is not None else None

    def tick(self, t: float) -> LedState:
        if self.flash is not None and t >= self._flash_until:
            self.flash = None
        return self.state

    def on_event(self, event: Event) -> LedState:
        self.tick(event.t)
        match event:
            case MicMuted(muted=muted):
                self.muted, self.base = muted, LedState.IDLE
            case WakeDetected() | Listening() | VoiceMemoStarted():
                self.base = LedState.LISTENING
            case VoiceMemoEnded(reason="nothing-heard"):
                self.base = LedState.IDLE
            case SpeechEnded() | VoiceMemoEnded():
                self.base = LedState.THINKING
            case Speaking():
                self.base = LedState.SPEAKING
            case SpeakingDone() | NothingHeard() | DaemonReady():
                self.base = LedState.IDLE
            case StageError():
                self.base = LedState.IDLE  # the turn is over; what follows sets it again
                self._start_flash(LedState.ERROR, event.t)
            case MemorySaved() | SnapshotTaken():
                if self.base is LedState.THINKING:
                    self.base = LedState.IDLE  # a memo or photo is done when it is saved
                self._start_flash(LedState.SAVING, event.t)
        return self.state

    def _start_flash(self, state: LedState, t: float) -> None:
        seconds = self.flash_s.get(state, 0.0)
        if seconds > 0:
            self.flash, self._flash_until = state, t + seconds


# --- how each state looks ---------------------------------------------------------------


class Effect(StrEnum):
    SOLID = "solid"
    BLINK = "blink"
    PULSE = "pulse"


@dataclass(frozen=True, slots=True)
class Look:
    color: tuple[float, float, float]  # RGB 0..1; a single LED shows the first as brightness
    effect: Effect = Effect.SOLID
    on_s: float = 0.0  # blink: on/off times; pulse: fade in/out times
    off_s: float = 0.0


OFF = (0.0, 0.0, 0.0)
RGB_LOOKS: dict[LedState, Look] = {
    LedState.IDLE: Look(OFF),
    LedState.LISTENING: Look((0.0, 0.0, 1.0)),  # blue
    LedState.THINKING: Look((0.0, 0.0, 1.0), Effect.PULSE, 0.5, 0.5),  # blue, breathing
    LedState.SPEAKING: Look((0.0, 0.6, 1.0)),  # cyan
    LedState.MUTED: Look((1.0, 0.0, 0.0)),  # red: the microphone is off
    LedState.ERROR: Look((1.0, 0.0, 0.0), Effect.BLINK, 0.1, 0.1),  # red, fast blink
    LedState.SAVING: Look((0.0, 1.0, 0.0)),  # green
}
MONO_LOOKS: dict[LedState, Look] = {
    LedState.IDLE: Look(OFF),
    LedState.LISTENING: Look((1.0, 0.0, 0.0)),
    LedState.THINKING: Look((1.0, 0.0, 0.0), Effect.PULSE, 0.5, 0.5),
    LedState.SPEAKING: Look((0.4, 0.0, 0.0)),
    LedState.MUTED: Look((0.05, 0.0, 0.0)),  # a faint glow
    LedState.ERROR: Look((1.0, 0.0, 0.0), Effect.BLINK, 0.08, 0.08),
    LedState.SAVING: Look((1.0, 0.0, 0.0), Effect.BLINK, 0.25, 0.25),
}


def parse_pins(pins: str) -> list[int]:
    return [int(p) for p in pins.split(",") if p.strip()]


class StatusLed:
    """An RGB LED (`kind="rgb"`, pins red,green,blue) or one PWM LED (`kind="pwm"`).

    Bus callbacks run on the publisher's thread and only set pins (gpiozero blinks and
    pulses on its own thread). A timer thread ends flashes; with `auto_tick=False` call
    `tick(t)` instead (tests).
    """

    def __init__(
        self,
        kind: str,
        pins: list[int],
        bus: Bus,
        *,
        pin_factory: Any = None,
        active_high: bool = True,
        flash_s: Mapping[LedState, float] | None = None,
        clock: Callable[[], float] = now,
        auto_tick: bool = True,
    ) -> None:
        from gpiozero import PWMLED, RGBLED  # only now: gpiozero may probe the board

        if kind == "rgb":
            if len(pins) != 3:
                raise ValueError(f"an RGB LED needs 3 pins (red,green,blue), got {len(pins)}")
            self._device: Any = RGBLED(
                *pins, active_high=active_high, pwm=True, pin_factory=pin_factory
            )
            self.looks = RGB_LOOKS
        elif kind == "pwm":
            if len(pins) != 1:
                raise ValueError(f"a single LED needs 1 pin, got {len(pins)}")
            self._device = PWMLED(pins[0], active_high=active_high, pin_factory=pin_factory)
            self.looks = MONO_LOOKS
        else:
            raise ValueError(f"unknown LED kind {kind!r} (rgb or pwm)")
        self.kind = kind
        self.machine = LedStateMachine(flash_s)
        self._clock = clock
        self._shown: LedState | None = None
        self._changed = threading.Condition()
        self._closed = False
        self._show(self.machine.state)
        self._unsubscribe = bus.on(self._on_event)
        self._thread: threading.Thread | None = None
        if auto_tick:
            self._thread = threading.Thread(target=self._run, name="led", daemon=True)
            self._thread.start()

    @property
    def state(self) -> LedState:
        return self.machine.state

    def tick(self, t: float | None = None) -> None:
        with self._changed:
            self._show(self.machine.tick(self._clock() if t is None else t))

    def close(self) -> None:
        self._unsubscribe()
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._device.off()
        self._device.close()

    def _on_event(self, event: Event) -> None:
        with self._changed:
            if self._closed:
                return
            self._show(self.machine.on_event(event))
            self._changed.notify_all()

    def _show(self, state: LedState) -> None:
        if state is self._shown:
            return
        self._shown = state
        look = self.looks[state]
        color: Any = look.color if self.kind == "rgb" else look.color[0]
        match look.effect:
            case Effect.SOLID:
                if self.kind == "rgb":
                    self._device.color = color
                else:
                    self._device.value = color
            case Effect.BLINK:
                extra = {"on_color": color} if self.kind == "rgb" else {}
                self._device.blink(look.on_s, look.off_s, background=True, **extra)
            case Effect.PULSE:
                extra = {"on_color": color} if self.kind == "rgb" else {}
                self._device.pulse(look.on_s, look.off_s, background=True, **extra)

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                deadline = self.machine.deadline
                wait = None if deadline is None else deadline - self._clock()
                if wait is not None and wait <= 0:
                    self._show(self.machine.tick(self._clock()))
                    continue
                self._changed.wait(wait)
