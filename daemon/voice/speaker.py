"""Microphone and speaker through sounddevice (PortAudio).

The PortAudio callbacks do as little as they can: the microphone's copies its block into a
preallocated ring and wakes a waiting reader; the speaker's copies the next slice of the
clip out. Rate conversion and cutting exact 80 ms frames happen in the reader's thread.

sounddevice is imported lazily: `import sounddevice` runs Pa_Initialize, which opens every
ALSA device to list it, and nothing may touch hardware at import time. PortAudio keeps that
list until it is initialised again, so a device plugged in later (or a PulseAudio server
started later) is only seen after `rescan_devices()`, which the supervisor calls between
retries when no stream of ours is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType, TracebackType
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from secondself.core.config import AudioConfig
from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import FRAME_SAMPLES, SAMPLE_RATE, Audio, Speech
from secondself.voice.resample import StreamDecimator, ratio, resample

log = logging.getLogger(__name__)

Kind = Literal["input", "output"]
DeviceSpec = str | int | None
LIST_HINT = "list devices with `secondself doctor` or `python3 -m sounddevice`"
FALLBACK_RATES = (48000, 32000, 44100, 22050)

# Guards PortAudio (re)initialisation against streams being opened or closed meanwhile.
_PA_LOCK = threading.RLock()
_open_streams = 0


def _sd() -> ModuleType:
    import sounddevice

    module: ModuleType = sounddevice
    return module


# -- devices ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    default_input: bool
    default_output: bool


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio knows, with the defaults marked (for `doctor`)."""
    sd = _sd()
    default_in, default_out = _default_indices(sd)
    return [
        DeviceInfo(
            index=int(d["index"]),
            name=str(d["name"]),
            inputs=int(d["max_input_channels"]),
            outputs=int(d["max_output_channels"]),
            default_rate=float(d["default_samplerate"]),
            default_input=d["index"] == default_in,
            default_output=d["index"] == default_out,
        )
        for d in sd.query_devices()
    ]


def rescan_devices() -> bool:
    """Re-initialises PortAudio so it lists devices again; False if a stream is still open.

    Pa_Terminate would close (and invalidate) open streams, so this refuses while any
    Microphone or SoundDeviceSpeaker stream is open.
    """
    sd = _sd()
    with _PA_LOCK:
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


def find_device(spec: DeviceSpec, kind: Kind) -> int:
    """The device index for "" / None (the default), an index, or a name substring."""
    sd = _sd()
    devices = [d for d in sd.query_devices() if d[f"max_{kind}_channels"] > 0]
    what = "microphone" if kind == "input" else "speaker"
    if spec is None or spec == "":
        default = _default_indices(sd)[0 if kind == "input" else 1]
        if default >= 0:
            return default
        raise _missing(f"no default {what}", devices)
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if any(d["index"] == index for d in devices):
            return index
        raise _missing(f"no {what} with index {index}", devices)
    wanted = spec.strip().lower()
    exact = [d for d in devices if d["name"].lower() == wanted]
    partial = [d for d in devices if wanted in d["name"].lower()]
    if exact or partial:
        return int((exact or partial)[0]["index"])
    raise _missing(f"no {what} matching {spec!r}", devices)


def _default_indices(sd: ModuleType) -> tuple[int, int]:
    # sd.default.device may hold names or -1; PortAudio's own defaults are what "" means.
    try:
        default_in = int(sd.query_devices(kind="input")["index"])
    except sd.PortAudioError:
        default_in = -1
    try:
        default_out = int(sd.query_devices(kind="output")["index"])
    except sd.PortAudioError:
        default_out = -1
    return default_in, default_out


def _missing(what: str, devices: list[Any]) -> SecondselfError:
    names = ", ".join(f"{d['index']}: {d['name']}" for d in devices) or "none"
    return SecondselfError(
        "audio-device-missing", f"{what} (found {names}); {LIST_HINT}", Stage.AUDIO
    )


def _supports(device: int, kind: Kind, rate: int, channels: int) -> bool:
    sd = _sd()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, channels=channels, dtype="int16", samplerate=rate)
    except (sd.PortAudioError, ValueError):
        return False
    return True


def _channels(device: int, kind: Kind, rate: int) -> int:
    """Mono if the device takes it; otherwise the fewest channels it takes (we use one)."""
    limit = int(_sd().query_devices(device)[f"max_{kind}_channels"])
    for channels in range(1, min(limit, 8) + 1):
        if _supports(device, kind, rate, channels):
            return channels
    return min(limit, 2)


def _pick_rate(device: int, kind: Kind, wanted: int) -> int:
    """`wanted` if the device takes it, else its default rate, else a common one."""
    default = int(_sd().query_devices(device)["default_samplerate"])
    for rate in (wanted, default, *FALLBACK_RATES):
        if _supports(device, kind, rate, 1) or _supports(device, kind, rate, 2):
            return rate
    return default


def _stream_opened() -> None:
    global _open_streams
    with _PA_LOCK:
        _open_streams += 1


def _stream_closed() -> None:
    global _open_streams
    with _PA_LOCK:
        _open_streams = max(0, _open_streams - 1)


def _audio_error(code: str, what: str, exc: BaseException) -> SecondselfError:
    return SecondselfError(code, f"{what}: {exc}; {LIST_HINT}", Stage.AUDIO)


# -- rate conversion --------------------------------------------------------------------------


class _Converter(Protocol):
    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]: ...


class _Identity:
    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]:
        return block


class _StreamResampler:
    """Any-ratio streaming resampler for rates like 44.1 kHz (no integer ratio to 16 kHz).

    A windowed-sinc low-pass at 0.45 of the lower Nyquist rate, then linear interpolation
    between the filtered samples. The filter history and the fractional read position carry
    over between blocks, so block edges leave no clicks. The low-pass first keeps the
    interpolation's images small; this is plenty for speech recognition, not for hi-fi.
    """

    def __init__(self, src_rate: int, dst_rate: int, taps: int = 63) -> None:
        self._step = src_rate / dst_rate
        cutoff = 0.45 * min(1.0, dst_rate / src_rate)
        t = np.arange(taps) - (taps - 1) / 2
        kernel = 2 * cutoff * np.sinc(2 * cutoff * t) * np.hamming(taps)
        self._taps = (kernel / kernel.sum()).astype(np.float32)
        self._history = np.zeros(taps - 1, dtype=np.float32)
        self._last = np.float32(0.0)  # the previous block's last filtered sample
        self._pos = 1.0  # next output's position, counted from that sample

    def process(self, block: NDArray[np.int16]) -> NDArray[np.int16]:
        n = block.size
        if n == 0:
            return block
        x = np.concatenate([self._history, block.astype(np.float32)])
        self._history = x[-(self._taps.size - 1) :]
        y = np.concatenate([[self._last], np.convolve(x, self._taps, mode="valid")])
        count = max(0, math.ceil((n - self._pos) / self._step))
        pos = self._pos + np.arange(count) * self._step
        left = pos.astype(np.intp)
        frac = (pos - left).astype(np.float32)
        out = y[left] * (1 - frac) + y[np.minimum(left + 1, n)] * frac
        self._pos += count * self._step - n
        self._last = y[n]
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def _converter(device_rate: int) -> _Converter:
    if device_rate == SAMPLE_RATE:
        return _Identity()
    factor = ratio(device_rate, SAMPLE_RATE)
    if factor is not None:
        return StreamDecimator(factor)
    return _StreamResampler(device_rate, SAMPLE_RATE)


# -- the microphone's ring buffer -------------------------------------------------------------


class _SampleRing:
    """Single-writer (the PortAudio thread), single-reader ring of int16 samples.

    The writer copies into preallocated memory under a lock held for one memcpy; when the
    reader falls more than `capacity` behind, the oldest samples are dropped and counted.
    """

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.int16)
        self._cond = threading.Condition(threading.Lock())
        self._written = 0  # samples ever written
        self._read = 0  # samples ever read
        self.dropped = 0
        self.writes = 0
        self.last_write = time.monotonic()
        self.waker: Callable[[], None] | None = None  # set by an asyncio reader

    def write(self, block: NDArray[np.int16]) -> None:
        n = min(block.shape[0], self._buf.size)
        cap = self._buf.size
        with self._cond:
            start = self._written % cap
            first = min(n, cap - start)
            self._buf[start : start + first] = block[:first]
            self._buf[: n - first] = block[first:n]
            self._written += n
            behind = self._written - self._read - cap
            if behind > 0:
                self._read += behind
                self.dropped += behind
            self.writes += 1
            self.last_write = time.monotonic()
            self._cond.notify()
        waker = self.waker
        if waker is not None:
            waker()

    def take(self) -> tuple[NDArray[np.int16], float]:
        """Every unread sample (a copy) and when the newest of them arrived."""
        cap = self._buf.size
        with self._cond:
            n = self._written - self._read
            start = self._read % cap
            if start + n <= cap:
                out = self._buf[start : start + n].copy()
            else:
                out = np.concatenate([self._buf[start:], self._buf[: n - (cap - start)]])
            self._read += n
            return out, self.last_write

    def wait(self, timeout: float | None) -> bool:
        """Waits until unread samples exist; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._written > self._read, timeout)

    def poke(self) -> None:
        """Wakes readers without data (the stream ended)."""
        with self._cond:
            self._cond.notify_all()
        waker = self.waker
        if waker is not None:
            waker()


# -- the microphone ---------------------------------------------------------------------------


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
        self._ring = _SampleRing(1)
        self._converter: _Converter = _Identity()
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
        sd = _sd()
        with _PA_LOCK:
            try:
                self._start_locked(sd)
            except sd.PortAudioError as exc:
                raise _audio_error("audio-open-failed", "cannot open the microphone", exc) from exc
        return self

    def _start_locked(self, sd: ModuleType) -> None:
        index = find_device(self.device_spec, "input")
        name = str(sd.query_devices(index)["name"])
        rate = self._forced_rate or _pick_rate(index, "input", SAMPLE_RATE)
        if self._forced_rate and not _supports(index, "input", rate, 1):
            raise SecondselfError(
                "audio-rate-unsupported",
                f"microphone {name!r} does not take {rate} Hz",
                Stage.AUDIO,
            )
        self._prepare(name, rate)
        self._stream = self._open(sd, index, rate)

    def _prepare(self, name: str, rate: int) -> None:
        self.device_name, self.device_rate = name, rate
        self._ring = _SampleRing(int(self._buffer_s * rate))
        self._converter = _converter(rate)
        self._pending = np.zeros(0, dtype=np.int16)
        self._ended.clear()

    def _open(self, sd: ModuleType, index: int, rate: int) -> Any:
        block = FRAME_SAMPLES * rate // SAMPLE_RATE  # one 80 ms frame per callback
        try:
            stream = sd.InputStream(
                device=index,
                samplerate=rate,
                channels=_channels(index, "input", rate),
                dtype="int16",
                blocksize=block,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise _audio_error(
                "audio-open-failed", f"cannot open microphone {self.device_name!r}", exc
            ) from exc
        _stream_opened()
        self._ring.last_write = time.monotonic()  # the stall clock starts now
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close(ignore_errors=True)
            _stream_closed()
            raise _audio_error("audio-open-failed", "cannot start the microphone", exc) from exc
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
        _stream_closed()
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


# -- keeping a microphone open ----------------------------------------------------------------


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


# -- the speaker ------------------------------------------------------------------------------


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
        sd = _sd()
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
            raise _audio_error("audio-output-failed", "cannot start the speaker", exc) from exc
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
        sd = _sd()
        with _PA_LOCK:
            index = find_device(self.device_spec, "output")
            try:
                self.device_name = str(sd.query_devices(index)["name"])
                rate = _pick_rate(index, "output", wanted_rate)
                stream = sd.OutputStream(
                    device=index,
                    samplerate=rate,
                    channels=_channels(index, "output", rate),
                    dtype="int16",
                    blocksize=max(1, int(rate * self.block_s)),
                    latency=self.latency_s,
                    callback=self._callback,
                    finished_callback=self._finished,
                )
            except (sd.PortAudioError, ValueError) as exc:
                raise _audio_error(
                    "audio-open-failed", f"cannot open speaker {self.device_name!r}", exc
                ) from exc
            _stream_opened()
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
        _stream_closed()

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
