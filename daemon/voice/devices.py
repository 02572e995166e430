"""Sound devices through sounddevice (PortAudio): finding them, picking rates, counting streams.

sounddevice is imported lazily: `import sounddevice` runs Pa_Initialize, which opens every
ALSA device to list it, and nothing may touch hardware at import time. PortAudio keeps that
list until it is initialised again, so a device plugged in later (or a PulseAudio server
started later) is only seen after `rescan_devices()`, which the microphone supervisor calls
between retries when no stream of ours is open.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from secondself.core.errors import SecondselfError, Stage

Kind = Literal["input", "output"]
DeviceSpec = str | int | None
LIST_HINT = "list devices with `secondself doctor` or `python3 -m sounddevice`"
FALLBACK_RATES = (48000, 32000, 44100, 22050)

# Guards PortAudio (re)initialisation against streams being opened or closed meanwhile.
PORTAUDIO_LOCK = threading.RLock()
_open_streams = 0


def load_sounddevice() -> ModuleType:
    """The sounddevice module, imported on first use (the import initialises PortAudio)."""
    import sounddevice

    module: ModuleType = sounddevice
    return module


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
    sd = load_sounddevice()
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
    sd = load_sounddevice()
    with PORTAUDIO_LOCK:
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


def find_device(spec: DeviceSpec, kind: Kind) -> int:
    """The device index for "" / None (the default), an index, or a name substring."""
    sd = load_sounddevice()
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


def supports(device: int, kind: Kind, rate: int, channels: int) -> bool:
    """Whether the device opens int16 audio at this rate and channel count."""
    sd = load_sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, channels=channels, dtype="int16", samplerate=rate)
    except (sd.PortAudioError, ValueError):
        return False
    return True


def pick_channels(device: int, kind: Kind, rate: int) -> int:
    """Mono if the device takes it; otherwise the fewest channels it takes (we use one)."""
    limit = int(load_sounddevice().query_devices(device)[f"max_{kind}_channels"])
    for channels in range(1, min(limit, 8) + 1):
        if supports(device, kind, rate, channels):
            return channels
    return min(limit, 2)


def pick_rate(device: int, kind: Kind, wanted: int) -> int:
    """`wanted` if the device takes it, else its default rate, else a common one."""
    default = int(load_sounddevice().query_devices(device)["default_samplerate"])
    for rate in (wanted, default, *FALLBACK_RATES):
        if supports(device, kind, rate, 1) or supports(device, kind, rate, 2):
            return rate
    return default


def stream_opened() -> None:
    """Counts a stream of ours as open (`rescan_devices` refuses while any is)."""
    global _open_streams
    with PORTAUDIO_LOCK:
        _open_streams += 1


def stream_closed() -> None:
    global _open_streams
    with PORTAUDIO_LOCK:
        _open_streams = max(0, _open_streams - 1)


def audio_error(code: str, what: str, exc: BaseException) -> SecondselfError:
    """A PortAudio failure as our error, with the hint on how to list devices."""
    return SecondselfError(code, f"{what}: {exc}; {LIST_HINT}", Stage.AUDIO)
