"""The microphone: a sounddevice InputStream cut into exact 80 ms, 16 kHz int16 frames.

The PortAudio callback does as little as it can: it copies its block into a preallocated
ring and wakes a waiting reader. Rate conversion and cutting exact 80 ms frames happen in
the reader's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from secondself.core.config import AudioConfig
from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio
from secondself.voice.devices import (
    PORTAUDIO_LOCK,
    DeviceSpec,
    audio_error,
    find_device,
    load_sounddevice,
    pick_channels,
    pick_rate,
    stream_closed,
    stream_opened,
    supports,
)
from secondself.voice.resample import Passthrough, StreamConverter, stream_converter
from secondself.voice.ring import SampleRing


@dataclass(frozen=True, slots=True)
class MicrophoneStats:
    callbacks: int  # PortAudio callbacks so far
    frames: int  # 80 ms frames handed out
    overflows: int  # callbacks flagged input_overflow (PortAudio or the device lost audio)
    dropped_frames: float  # 80 ms frames' worth dropped because the reader fell behind
    last_frame_delay_s: float  # from the callback that completed a frame to its delivery
    max_frame_delay_s: float


class Microphone:
    """A sounddevice InputStream that yields exact 80 ms, 16 kHz int16 frames.

    device: "" or None for the default input, an index, or a name substring.
    sample_rate: force the device rate (e.g. 48000); by default 16 kHz if the device takes
    it, else its default rate, converted to 16 kHz (integer ratios decimate; others resample).
    One reader at a time: a worker thread calls `read_frame`, or asyncio iterates `frames()`.
    `read_frame` raises SecondselfError("audio-device-lost") once the stream ended on its own
    or delivered nothing for `stall_s`.
    """

    def __init__(
        self,
        device: DeviceSpec = "",
        *,
        sample_rate: int | None = None,
        buffer_s: float = 2.0,
        stall_s: float = 3.0,
    ) -> None:
        self.device_spec = device
        self._forced_rate = sample_rate
        self._buffer_s = buffer_s
        self.stall_s = stall_s
        self.device_name = ""
        self.device_rate = 0
        self._stream: Any = None
        self._ring = SampleRing(1)
        self._converter: StreamConverter = Passthrough()
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_time = 0.0
        self._ended = threading.Event()  # the stream stopped without our asking
        self._overflows = 0
        self._frames = 0
        self._last_delay = 0.0
        self._max_delay = 0.0

    @classmethod
    def from_config(cls, config: AudioConfig) -> Microphone:
        return cls(config.input_device)

    # life cycle

    def start(self) -> Microphone:
        if self._stream is not None:
            return self
        sd = load_sounddevice()
        with PORTAUDIO_LOCK:
            try:
                self._start_locked(sd)
            except sd.PortAudioError as exc:
                raise audio_error("audio-open-failed", "cannot open the microphone", exc) from exc
        return self

    def _start_locked(self, sd: ModuleType) -> None:
        index = find_device(self.device_spec, "input")
        name = str(sd.query_devices(index)["name"])
        rate = self._forced_rate or pick_rate(index, "input", SAMPLE_RATE)
        if self._forced_rate and not supports(index, "input", rate, 1):
            raise SecondselfError(
                "audio-rate-unsupported",
                f"microphone {name!r} does not take {rate} Hz",
                Stage.AUDIO,
            )
        self._prepare(name, rate)
        self._stream = self._open(sd, index, rate)

    def _prepare(self, name: str, rate: int) -> None:
        self.device_name, self.device_rate = name, rate
        self._ring = SampleRing(int(self._buffer_s * rate))
        self._converter = stream_converter(rate, SAMPLE_RATE)
        self._pending = np.zeros(0, dtype=np.int16)
        self._ended.clear()

    def _open(self, sd: ModuleType, index: int, rate: int) -> Any:
        block = FRAME_SAMPLES * rate // SAMPLE_RATE  # one 80 ms frame per callback
        try:
            stream = sd.InputStream(
                device=index,
                samplerate=rate,
                channels=pick_channels(index, "input", rate),
                dtype="int16",
                blocksize=block,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise audio_error(
                "audio-open-failed", f"cannot open microphone {self.device_name!r}", exc
            ) from exc
        stream_opened()
        self._ring.last_write = time.monotonic()  # the stall clock starts now
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            stream_closed()
            raise audio_error("audio-open-failed", "cannot start the microphone", exc) from exc
        return stream

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._ended.set()  # expected: not "lost" any more, but wakes readers all the same
        with contextlib.suppress(Exception):
            stream.abort(ignore_errors=True)  # abort: nothing to drain on input
        with contextlib.suppress(Exception):
            stream.close(ignore_errors=True)
        stream_closed()
        self._ring.poke()

    def __enter__(self) -> Microphone:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # the PortAudio thread

    def _callback(
        self, indata: NDArray[np.int16], frames: int, time_info: Any, status: Any
    ) -> None:
        if status.input_overflow:
            self._overflows += 1
        self._ring.write(indata[:, 0])

    def _finished(self) -> None:
        self._ended.set()
        self._ring.poke()

    # the reader

    @property
    def running(self) -> bool:
        return self._stream is not None

    @property
    def lost(self) -> bool:
        """The stream ended on its own, or stalled for stall_s."""
        if self._stream is None:
            return False
        stalled = time.monotonic() - self._ring.last_write > self.stall_s
        return self._ended.is_set() or stalled

    def read_frame(self, timeout: float | None = None) -> Audio | None:
        """The next 1280-sample frame; None after `timeout` seconds (None waits for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._pending.size < FRAME_SAMPLES:
            self._check_alive()
            if self._pull():
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            wait = self.stall_s if remaining is None else min(remaining, self.stall_s)
            self._ring.wait(wait)
        return self._pop_frame()

    async def frames(self) -> AsyncIterator[Audio]:
        """Frames for asyncio: waits on a wake-up from the callback, never blocks the loop."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                loop.call_soon_threadsafe(ready.set)

        self._ring.waker = wake
        try:
            while True:
                ready.clear()
                frame = self.read_frame(timeout=0)
                if frame is not None:
                    yield frame
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), self.stall_s)
        finally:
            self._ring.waker = None

    def _check_alive(self) -> None:
        if self._stream is None:
            raise SecondselfError("audio-not-started", "the microphone is not started", Stage.AUDIO)
        if self.lost:
            raise self.lost_error()

    def lost_error(self) -> SecondselfError:
        """The error `read_frame` raises once the stream is lost, saying why."""
        why = "stopped" if self._ended.is_set() else f"sent nothing for {self.stall_s:g} s"
        return SecondselfError(
            "audio-device-lost", f"microphone {self.device_name!r} {why}", Stage.AUDIO
        )

    def _pull(self) -> bool:
        samples, arrived = self._ring.take()
        if samples.size == 0:
            return False
        converted = self._converter.process(samples)
        self._pending = np.concatenate([self._pending, converted])
        self._pending_time = arrived
        return True

    def _pop_frame(self) -> Audio:
        frame = self._pending[:FRAME_SAMPLES].copy()
        self._pending = self._pending[FRAME_SAMPLES:]
        self._frames += 1
        self._last_delay = time.monotonic() - self._pending_time
        self._max_delay = max(self._max_delay, self._last_delay)
        return frame

    @property
    def stats(self) -> MicrophoneStats:
        per_frame = FRAME_SAMPLES * max(self.device_rate, 1) / SAMPLE_RATE
        return MicrophoneStats(
            callbacks=self._ring.writes,
            frames=self._frames,
            overflows=self._overflows,
            dropped_frames=self._ring.dropped / per_frame,
            last_frame_delay_s=self._last_delay,
            max_frame_delay_s=self._max_delay,
        )
