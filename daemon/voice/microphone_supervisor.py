"""Keeping a microphone open: reopening it while it is missing or lost, and saying so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from types import TracebackType

from secondself.core.config import AudioConfig
from secondself.core.errors import SecondselfError
from secondself.core.protocols import Audio
from secondself.voice.devices import rescan_devices
from secondself.voice.microphone import Microphone

log = logging.getLogger(__name__)


class MicState(StrEnum):
    STOPPED = "stopped"
    OPEN = "open"
    MISSING = "missing"  # not there (yet, or any more): retrying every retry_s


StateCallback = Callable[[MicState, str], None]


class MicrophoneSupervisor:
    """Keeps a Microphone open: reopens it every `retry_s` while it is missing or lost.

    Readers use the same API as Microphone (`read_frame`, `frames()`); while the device is
    missing they simply get no frames. `on_state(state, detail)` is called from the
    supervisor's thread on every change: keep it short (for asyncio, hop with
    loop.call_soon_threadsafe).
    """

    def __init__(
        self,
        open_microphone: Callable[[], Microphone],
        *,
        retry_s: float = 5.0,
        on_state: StateCallback | None = None,
        check_s: float = 0.25,
    ) -> None:
        self._open_microphone = open_microphone
        self.retry_s = retry_s
        self._on_state = on_state
        self._check_s = check_s
        self._mic: Microphone | None = None
        self._state = MicState.STOPPED
        self._detail = ""
        self._lock = threading.Lock()
        self._opened = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(
        cls, config: AudioConfig, on_state: StateCallback | None = None
    ) -> MicrophoneSupervisor:
        return cls(
            lambda: Microphone.from_config(config), retry_s=config.retry_s, on_state=on_state
        )

    @property
    def state(self) -> MicState:
        return self._state

    @property
    def microphone(self) -> Microphone | None:
        return self._mic

    def start(self) -> MicrophoneSupervisor:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="mic-supervisor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            mic, self._mic = self._mic, None
            self._opened.notify_all()
        if mic is not None:
            mic.stop()
        self._set_state(MicState.STOPPED, "")

    def __enter__(self) -> MicrophoneSupervisor:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # readers

    def read_frame(self, timeout: float | None = None) -> Audio | None:
        """The next frame; None after `timeout` (also while the device is missing)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stopping.is_set():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            mic = self._wait_for_mic(remaining)
            if mic is not None:
                try:
                    return mic.read_frame(remaining)
                except SecondselfError as exc:
                    self._mark_lost(mic, exc)
            elif remaining == 0.0:
                return None
        return None

    async def frames(self) -> AsyncIterator[Audio]:
        while not self._stopping.is_set():
            mic = self._mic
            if mic is None:
                await asyncio.sleep(self._check_s)  # only while the device is missing
                continue
            try:
                async for frame in mic.frames():
                    yield frame
            except SecondselfError as exc:
                self._mark_lost(mic, exc)

    def _wait_for_mic(self, timeout: float | None) -> Microphone | None:
        with self._opened:
            self._opened.wait_for(lambda: self._mic is not None or self._stopping.is_set(), timeout)
            return self._mic

    # the supervisor thread

    def _mark_lost(self, mic: Microphone, exc: SecondselfError) -> None:
        with self._lock:
            if self._mic is not mic:
                return
            self._mic = None
        self._detail = str(exc)
        self._wake.set()

    def _run(self) -> None:
        current: Microphone | None = None  # the one this thread opened, and closes
        while not self._stopping.is_set():
            if current is not None and (current.lost or self._mic is not current):
                self._mark_lost(current, current.lost_error())
                current.stop()
                current = None
                self._set_state(MicState.MISSING, self._detail)
            if current is None:
                current = self._try_open()
            self._wake.wait(self._check_s if current is not None else self.retry_s)
            self._wake.clear()
        if current is not None:
            current.stop()

    def _try_open(self) -> Microphone | None:
        mic = self._open_microphone()
        try:
            mic.start()
        except Exception as exc:  # whatever PortAudio says, this thread must live on
            self._set_state(MicState.MISSING, str(exc))
            with contextlib.suppress(Exception):
                rescan_devices()  # a device plugged in later is only listed after a rescan
            return None
        with self._opened:
            self._mic = mic
            self._opened.notify_all()
        self._detail = ""
        self._set_state(MicState.OPEN, f"{mic.device_name} at {mic.device_rate} Hz")
        return mic

    def _set_state(self, state: MicState, detail: str) -> None:
        if state == self._state:
            return
        self._state = state
        log.info("microphone %s%s", state, f": {detail}" if detail else "")
        if self._on_state is not None:
            try:
                self._on_state(state, detail)
            except Exception:  # a subscriber's bug must not stop the supervisor
                log.exception("microphone state callback failed")
