"""Build the button, LED, camera and device glue from the config; run without what is absent.

On a machine with no GPIO or no camera the daemon still runs: `start_hardware` logs one
line saying what is off and why, and `check_hardware` tells `doctor` how to turn it on.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secondself.answer.backoff import BackoffPolicy
from secondself.answer.vision import captioner_for
from secondself.core.bus import Bus
from secondself.core.config import Config
from secondself.core.errors import ConfigError, SecondselfError, Stage
from secondself.core.protocols import Speaker, Speech, Synthesizer, Transcriber, VoiceActivity
from secondself.hw.button import Button, GpioButton, PressTimings
from secondself.hw.camera import Camera, CameraSource, camera_from_source
from secondself.hw.device import Action, Device, DeviceSettings, MemoryWriter
from secondself.hw.earcons import Earcons
from secondself.hw.led import StatusLed, parse_pins
from secondself.hw.memo import MemoSettings
from secondself.hw.voice_hooks import VoiceHooks

log = logging.getLogger(__name__)

AUTO_FACTORIES = ("lgpio", "rpigpio", "pigpio", "native")  # gpiozero's own order


def pin_factory(name: str) -> Any:
    """The gpiozero pin factory named in `gpio.pin_factory` ("" = the first that works)."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)  # PWM pins: the LED can dim and pulse
    from importlib.metadata import entry_points

    known = {ep.name: ep for ep in entry_points(group="gpiozero_pin_factories")}
    failures = []
    for candidate in [name] if name else AUTO_FACTORIES:
        if candidate not in known:
            failures.append(f"{candidate}: not installed")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gpiozero warns on each fallback
                return known[candidate].load()()
        except Exception as exc:  # missing library, not a Pi, no daemon ...
            failures.append(f"{candidate}: {exc}")
    raise SecondselfError("gpio-unavailable", "no GPIO (" + "; ".join(failures) + ")", Stage.BUTTON)


def announcer(synth: Synthesizer, speaker: Speaker) -> Callable[[str], None]:
    """`announce` for start_hardware: the device says why a button action failed."""

    def say(text: str) -> None:
        speaker.play(Speech(synth.synthesize(text), synth.sample_rate))

    return say


def device_settings(config: Config, persona: str) -> DeviceSettings:
    b = config.button
    return DeviceSettings(
        short=Action(b.short),
        long=Action(b.long),
        double=Action(b.double),
        memo=MemoSettings(
            silence_s=b.memo_silence_s, max_s=b.memo_max_s, threshold=config.vad.threshold
        ),
        caption_s=config.camera.caption_s,
        vision_wait_s=config.camera.vision_wait_s,
        persona=persona,
    )


@dataclass
class Hardware:
    """What `start_hardware` built; `hooks` go to the voice loop, `device` to the
    conversation ("take a picture")."""

    hooks: VoiceHooks
    device: Device
    button: Button | None = None
    led: StatusLed | None = None
    camera: Camera | None = None
    off: list[str] = field(default_factory=list)  # what is absent, and why

    def close(self) -> None:
        if self.button is not None:
            self.button.close()
        self.device.close()
        if self.led is not None:
            self.led.close()


def start_hardware(
    config: Config,
    bus: Bus,
    *,
    memory: MemoryWriter,
    stt: Transcriber,
    vad: VoiceActivity,
    speaker: Speaker | None,
    sample_rate: int = 16000,
    persona: str = "personal",
    backoff: BackoffPolicy | str = BackoffPolicy.NEVER,
    announce: Callable[[str], None] | None = None,
    factory: Any = None,
) -> Hardware:
    """`vad` runs on the listener thread while a memo records: the listener's own VAD is
    fine (the listener is not fed meanwhile). `sample_rate`: the voice's, so earcons do
    not make the speaker reopen. `backoff`: the persona's policy (a photo is described by
    the cloud only under with-memories). `factory`: a gpiozero pin factory (tests)."""
    off: list[str] = []
    button, led = _gpio_devices(config, bus, factory, off)
    camera = camera_for(config, off)
    captioner = None if camera is None else captioner_for(config, backoff, off)
    if off:
        log.warning("hardware: %s; `secondself doctor` says how to enable it", "; ".join(off))
    hooks = VoiceHooks(bus)
    earcons = Earcons(
        speaker, rate=sample_rate, volume=config.earcons.volume, enabled=config.earcons.enabled
    )
    device = Device(
        bus,
        hooks,
        memory,
        stt,
        vad,
        earcons,
        camera,
        device_settings(config, persona),
        announce=announce,
        captioner=captioner,
    ).start()
    return Hardware(hooks, device, button, led, camera, off)


def _gpio_devices(
    config: Config, bus: Bus, factory: Any, off: list[str]
) -> tuple[Button | None, StatusLed | None]:
    want_button = config.button.enabled
    want_led = config.led.kind != "none"
    if not (want_button or want_led):
        return None, None
    pins = parse_pins(config.led.pins)
    if want_led and len(pins) != (3 if config.led.kind == "rgb" else 1):
        raise ConfigError(
            f"config key 'led.pins' must list {3 if config.led.kind == 'rgb' else 1} pin(s) "
            f"for led.kind = {config.led.kind!r}; got {config.led.pins!r}"
        )
    try:
        gpio = factory if factory is not None else pin_factory(config.gpio.pin_factory)
    except SecondselfError as exc:
        off.append(f"button and LED off: {exc.message}")
        return None, None
    button: Button | None = None
    led: StatusLed | None = None
    if want_button:
        timings = PressTimings(hold_s=config.button.hold_s, double_s=config.button.double_s)
        try:
            button = GpioButton(config.button.pin, bus, timings, pin_factory=gpio)
        except Exception as exc:  # pin in use, no permission ...
            off.append(f"button off: GPIO{config.button.pin}: {exc}")
    if want_led:
        try:
            led = StatusLed(
                config.led.kind, pins, bus, pin_factory=gpio, active_high=config.led.active_high
            )
        except Exception as exc:
            off.append(f"LED off: GPIO{config.led.pins}: {exc}")
    return button, led


def camera_for(config: Config, off: list[str]) -> Camera | None:
    """The configured camera, or None (with the reason appended to `off`)."""
    if not config.camera.enabled:
        return None
    why = CameraSource.parse(config.camera.source).missing()
    if why is not None:
        off.append(f"camera off: {why}")
        return None
    c = config.camera
    return camera_from_source(
        c.source,
        width=c.width,
        height=c.height,
        warmup_frames=c.warmup_frames,
        jpeg_quality=c.jpeg_quality,
    )


@dataclass(frozen=True, slots=True)
class HardwareCheck:
    name: str  # "button", "LED", "camera"
    ok: bool
    detail: str
    fix: str = ""


def check_hardware(config: Config) -> list[HardwareCheck]:
    """For `doctor`: is each configured device usable here, and if not, how to fix it.
    Opens nothing but the pin factory (no picture is taken, no pin is claimed)."""
    checks: list[HardwareCheck] = []
    if config.button.enabled or config.led.kind != "none":
        try:
            factory = pin_factory(config.gpio.pin_factory)
            name = type(factory).__name__
            if config.button.enabled:
                checks.append(HardwareCheck("button", True, f"GPIO{config.button.pin} ({name})"))
            if config.led.kind != "none":
                detail = f"{config.led.kind} on GPIO {config.led.pins} ({name})"
                checks.append(HardwareCheck("LED", True, detail))
            factory.close()
        except SecondselfError as exc:
            checks.append(
                HardwareCheck(
                    "button and LED",
                    False,
                    exc.message,
                    "on a Raspberry Pi install python3-lgpio (venv made with "
                    "--system-site-packages) or `pip install lgpio`; elsewhere set "
                    'button.enabled = false and led.kind = "none"',
                )
            )
    if config.camera.enabled:
        source = CameraSource.parse(config.camera.source)
        why = source.missing()
        checks.append(
            HardwareCheck(
                "camera",
                why is None,
                source.name if why is None else why,
                ""
                if why is None
                else 'plug in a USB webcam (camera.source = "0"), or for the Pi camera set '
                'camera.source = "cmd:rpicam-still -n -t 1 -o -"; see README "Camera"',
            )
        )
        if config.camera.vision != "none":
            checks.append(_check_vision(config))
    return checks


def _check_vision(config: Config) -> HardwareCheck:
    """Photo descriptions: the files of a local model, or the cloud switched on. (Whether
    a persona may send photos is its backoff policy, checked when the daemon starts.)"""
    c = config.camera
    if c.vision == "cloud":
        if config.cloud.enabled:
            return HardwareCheck(
                "vision", True, f"cloud model {c.vision_model or config.cloud.model}"
            )
        return HardwareCheck(
            "vision",
            False,
            'camera.vision = "cloud" but cloud.enabled is false',
            'set cloud.enabled, base_url and model (README "What leaves the device"), '
            'or camera.vision = "none"',
        )
    try:
        captioner_for(config, BackoffPolicy.NEVER, [])
    except ConfigError as exc:
        return HardwareCheck(
            "vision",
            False,
            exc.message,
            "set camera.vision_model and camera.vision_projector to a multimodal GGUF and its "
            'projector (mmproj), or camera.vision = "none"',
        )
    return HardwareCheck("vision", True, f"{c.vision_handler}: {Path(c.vision_model).name}")
