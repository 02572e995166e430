"""The speaker: plays speech through a sounddevice OutputStream.

The PortAudio callback does as little as it can: it copies the next slice of the clip out.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from secondself.core.config import AudioConfig
from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import Speech
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
)
from secondself.voice.resample import resample


class SoundDeviceSpeaker:
    """Plays int16 speech through a sounddevice OutputStream (the `Speaker` Protocol).

    `play` blocks until the audio has been heard (the callback's DAC time for the last
    sample, plus one block), or until `stop()` from any thread, which wakes `play` at once;
    `play` then aborts the stream, dropping what the device still holds. The stream stays
    open (stopped) between plays of the same rate, so the next play only restarts it, and
    is closed after `idle_close_s` without playing, which also lets `rescan_devices` run.
    A device error drops the stream; the next play reopens it.
    latency_s: the output buffer PortAudio asks for. 0.1 s plays cleanly through ALSA's
    PulseAudio plugin, where "low" (40 ms) underruns and loses audio; `stop()` does not
    wait for it (abort drops the buffer).
    """

    def __init__(
        self,
        device: DeviceSpec = "",
        *,
        idle_close_s: float = 10.0,
        block_s: float = 0.02,
        latency_s: float = 0.1,
    ) -> None:
        self.device_spec = device
        self.idle_close_s = idle_close_s
        self.block_s = block_s
        self.latency_s = latency_s
        self.device_name = ""
        self._stream: Any = None
        self._rate = 0  # the stream's rate
        self._asked_rate = 0  # the speech rate it was opened for
        self._play_lock = threading.Lock()  # one play at a time
        self._state_lock = threading.Lock()  # the stream handle, against the idle timer
        self._clip: NDArray[np.int16] | None = None
        self._pos = 0
        self._end_time = 0.0  # stream time at which the clip's last sample is heard
        self._wake = threading.Event()  # set with each flag below, to wake `play`
        self._consumed = False
        self._stop_requested = False
        self._failed = False
        self._interrupted = False
        self._playing = False
        self._idle_timer: threading.Timer | None = None

    @classmethod
    def from_config(cls, config: AudioConfig) -> SoundDeviceSpeaker:
        return cls(config.output_device)

    @property
    def is_playing(self) -> bool:
        return self._playing

    @property
    def interrupted(self) -> bool:
        """Whether the last `play` was cut short by `stop()`."""
        return self._interrupted

    def stop(self) -> None:
        """Stops the current play (if any); safe from any thread, returns at once."""
        if self._playing:
            self._stop_requested = True
            self._wake.set()

    def play(self, speech: Speech) -> None:
        audio = np.asarray(speech.audio, dtype=np.int16).reshape(-1)
        if audio.size == 0:
            return
        with self._play_lock:
            self._cancel_idle_timer()
            self._interrupted = False
            try:
                stream, audio = self._stream_for(audio, speech.sample_rate)
                self._play_on(stream, audio)
            finally:
                self._playing = False
                self._clip = None
                self._start_idle_timer()

    def close(self) -> None:
        self._cancel_idle_timer()
        with self._state_lock:
            self._close_stream()

    def __enter__(self) -> SoundDeviceSpeaker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # playing

    def _play_on(self, stream: Any, audio: NDArray[np.int16]) -> None:
        sd = load_sounddevice()
        self._consumed = self._stop_requested = self._failed = False
        self._wake.clear()
        self._pos = 0
        self._clip = audio
        self._playing = True
        try:
            if not stream.active:
                stream.start()
        except sd.PortAudioError as exc:
            self._drop_stream()
            raise audio_error("audio-output-failed", "cannot start the speaker", exc) from exc
        if not self._wait(lambda: self._consumed, audio.size / self._rate + 2.0):
            self._drop_stream()
            raise SecondselfError(
                "audio-output-failed", f"speaker {self.device_name!r} stopped playing", Stage.AUDIO
            )
        if not self._stop_requested:
            self._wait(lambda: False, self._tail_s(stream))
        self._interrupted = self._stop_requested
        self._clip = None
        self._pause(stream)

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Waits for done(), a stop() or a failure; False on timeout or failure."""
        deadline = time.monotonic() + timeout
        while not (done() or self._stop_requested or self._failed):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._wake.wait(left)
            self._wake.clear()
        return not self._failed

    def _tail_s(self, stream: Any) -> float:
        """How long the device still needs for the samples already handed to it."""
        try:
            left = min(self._end_time - stream.time, stream.latency) + self.block_s
        except Exception:  # a stream time PortAudio cannot give: assume its latency
            left = stream.latency
        return max(0.0, float(left))

    def _pause(self, stream: Any) -> None:
        """Stops the stream, dropping what the device still holds: after a stop() that cuts
        the speech off at once; after the tail wait it is only silence. The next play then
        starts on an empty buffer (no stale silence ahead of it) and no callback runs idle."""
        try:
            stream.abort(ignore_errors=True)
        except Exception:
            self._drop_stream()

    # the PortAudio thread

    def _callback(
        self, outdata: NDArray[np.int16], frames: int, time_info: Any, status: Any
    ) -> None:
        clip = self._clip
        if clip is None or self._stop_requested:
            outdata.fill(0)
            return
        n = min(frames, clip.size - self._pos)
        outdata[:n] = clip[self._pos : self._pos + n, None]
        outdata[n:] = 0
        self._pos += n
        if self._pos >= clip.size:
            self._end_time = time_info.outputBufferDacTime + n / self._rate
            self._clip = None
            self._consumed = True
            self._wake.set()

    def _finished(self) -> None:
        if self._clip is not None:  # ended mid-clip without our abort: the device failed
            self._failed = True
            self._wake.set()

    # the stream

    def _stream_for(self, audio: NDArray[np.int16], rate: int) -> tuple[Any, NDArray[np.int16]]:
        with self._state_lock:
            if self._stream is not None and rate != self._asked_rate:
                self._close_stream()  # a voice with another rate: reopen for it
            if self._stream is None:
                self._open_stream(rate)
        if rate != self._rate:  # the device does not take the speech's rate
            audio = resample(audio, rate, self._rate)
        return self._stream, audio

    def _open_stream(self, wanted_rate: int) -> None:
        sd = load_sounddevice()
        with PORTAUDIO_LOCK:
            index = find_device(self.device_spec, "output")
            try:
                self.device_name = str(sd.query_devices(index)["name"])
                rate = pick_rate(index, "output", wanted_rate)
                stream = sd.OutputStream(
                    device=index,
                    samplerate=rate,
                    channels=pick_channels(index, "output", rate),
                    dtype="int16",
                    blocksize=max(1, int(rate * self.block_s)),
                    latency=self.latency_s,
                    callback=self._callback,
                    finished_callback=self._finished,
                )
            except (sd.PortAudioError, ValueError) as exc:
                raise audio_error(
                    "audio-open-failed", f"cannot open speaker {self.device_name!r}", exc
                ) from exc
            stream_opened()
        self._stream, self._rate, self._asked_rate = stream, rate, wanted_rate

    def _drop_stream(self) -> None:
        with self._state_lock:
            self._close_stream()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with contextlib.suppress(Exception):
            stream.abort(ignore_errors=True)
        with contextlib.suppress(Exception):
            stream.close(ignore_errors=True)
        stream_closed()

    def _start_idle_timer(self) -> None:
        if self.idle_close_s <= 0:
            return
        self._idle_timer = threading.Timer(self.idle_close_s, self._close_if_idle)
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _cancel_idle_timer(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()

    def _close_if_idle(self) -> None:
        if self._play_lock.acquire(blocking=False):  # a play in progress keeps it open
            try:
                with self._state_lock:
                    self._close_stream()
            finally:
                self._play_lock.release()
