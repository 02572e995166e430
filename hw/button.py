"""The push button: press/release times -> short, long or double press -> ButtonPressed.

`PressClassifier` is a pure state machine over (edge, time): no pins, no clock, no
threads, so every timing is tested with plain numbers. `GpioButton` feeds it from a
gpiozero Button and wakes it at its deadlines from one small timer thread.

    UP --press--> DOWN --held hold_s--> HELD (LONG) --release--> UP
                   |
                   +--release--> WAIT_SECOND --double_s passes--> UP (SHORT)
                                      |
                                      +--press--> SECOND_DOWN (DOUBLE) --release--> UP

A long press fires while the button is still held (the shutter should not wait for the
release); a short press fires only once no second press can follow, so `double_s` is the
latency of a short press (0 turns double presses off and short presses fire on release).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from secondself.core.bus import Bus
from secondself.core.clock import now
from secondself.core.events import ButtonPressed


class Press(StrEnum):
    SHORT = "short"
    LONG = "long"
    DOUBLE = "double"


class ButtonState(StrEnum):
    UP = "up"
    DOWN = "down"  # pressed, not yet a long press
    HELD = "held"  # the long press fired; waiting for the release
    WAIT_SECOND = "wait_second"  # released after a short press; a second press is a double
    SECOND_DOWN = "second_down"  # the double press fired; waiting for the release


@dataclass(frozen=True, slots=True)
class PressTimings:
    hold_s: float = 0.8
    double_s: float = 0.4


class PressClassifier:
    """Feed `press(t)`, `release(t)` and `tick(t)`; each returns the presses completed."""

    def __init__(self, timings: PressTimings | None = None) -> None:
        self.timings = timings or PressTimings()
        self.state = ButtonState.UP
        self._pressed_at = 0.0
        self._released_at = 0.0

    @property
    def deadline(self) -> float | None:
        """When `tick` next has something to decide (None: only an edge can change things)."""
        if self.state is ButtonState.DOWN:
            return self._pressed_at + self.timings.hold_s
        if self.state is ButtonState.WAIT_SECOND:
            return self._released_at + self.timings.double_s
        return None

    def tick(self, t: float) -> list[Press]:
        if self.state is ButtonState.DOWN and t - self._pressed_at >= self.timings.hold_s:
            self.state = ButtonState.HELD
            return [Press.LONG]
        if self.state is ButtonState.WAIT_SECOND and t - self._released_at >= self.timings.double_s:
            self.state = ButtonState.UP
            return [Press.SHORT]
        return []

    def press(self, t: float) -> list[Press]:
        done = self.tick(t)  # a deadline that passed before this edge counts first
        match self.state:
            case ButtonState.UP:
                self.state, self._pressed_at = ButtonState.DOWN, t
            case ButtonState.WAIT_SECOND:
                self.state = ButtonState.SECOND_DOWN
                done.append(Press.DOUBLE)
            case _:
                pass  # a second "press" while down: a missed release edge; ignore it
        return done

    def release(self, t: float) -> list[Press]:
        done = self.tick(t)
        match self.state:
            case ButtonState.DOWN:
                if self.timings.double_s > 0:
                    self.state, self._released_at = ButtonState.WAIT_SECOND, t
                else:
                    self.state = ButtonState.UP
                    done.append(Press.SHORT)
            case ButtonState.HELD | ButtonState.SECOND_DOWN:
                self.state = ButtonState.UP
            case _:
                pass  # a release without a press (it was down at start-up)
        return done


class Button(Protocol):
    """A source of ButtonPressed events (the gpiozero button, or a test's fake)."""

    def close(self) -> None: ...


class GpioButton:
    """A gpiozero Button (to ground, internal pull-up) publishing ButtonPressed on the bus.

    gpiozero calls back on its own thread; presses are published from that thread or the
    timer thread. Pass `auto_tick=False` and a fake `clock` to drive time by hand (tests):
    then call `tick()` after moving the clock on.
    """

    def __init__(
        self,
        pin: int,
        bus: Bus,
        timings: PressTimings | None = None,
        *,
        pin_factory: Any = None,
        bounce_s: float | None = 0.02,
        clock: Callable[[], float] = now,
        auto_tick: bool = True,
    ) -> None:
        from gpiozero import Button as GpioZeroButton  # only now: gpiozero may probe the board

        self.pin = pin
        self.bus = bus
        self._clock = clock
        self._classifier = PressClassifier(timings)
        self._changed = threading.Condition()
        self._closed = False
        self._device = GpioZeroButton(
            pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory
        )
        self._device.when_pressed = lambda: self._edge(pressed=True)
        self._device.when_released = lambda: self._edge(pressed=False)
        self._thread: threading.Thread | None = None
        if auto_tick:
            self._thread = threading.Thread(target=self._run, name="button", daemon=True)
            self._thread.start()

    @property
    def state(self) -> ButtonState:
        return self._classifier.state

    @property
    def gpio_pin(self) -> Any:
        """The gpiozero pin it reads (under the mock pin factory, a MockPin a test can drive)."""
        return self._device.pin

    def tick(self) -> None:
        with self._changed:
            presses = self._classifier.tick(self._clock())
        self._publish(presses)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._device.close()

    def _edge(self, pressed: bool) -> None:
        with self._changed:
            t = self._clock()
            presses = self._classifier.press(t) if pressed else self._classifier.release(t)
            self._changed.notify_all()  # the deadline moved
        self._publish(presses)

    def _publish(self, presses: list[Press]) -> None:
        for press in presses:
            self.bus.publish(ButtonPressed(action=str(press)))

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._closed:
                    return
                deadline = self._classifier.deadline
                wait = None if deadline is None else deadline - self._clock()
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                presses = self._classifier.tick(self._clock())
            self._publish(presses)
