"""Building the hardware from the config: absent GPIO or camera is one log line, not a crash."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from secondself.core.bus import Bus
from secondself.core.config import Config, load_config
from secondself.core.errors import ConfigError, SecondselfError
from secondself.core.events import Event, StageError
from secondself.service.hardware import (
    Hardware,
    announcer,
    check_hardware,
    pin_factory,
    start_hardware,
)
from tests.hw.test_device import ListWriter
from tests.support.fakes import MarkedVad, RecordingSpeaker, ScriptedTranscriber, ToneSynthesizer

pytestmark = pytest.mark.unit


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, environ={}, system_files=[])


def start(cfg: Config, tmp_path: Path, factory: object = None) -> tuple[Hardware, list[Event]]:
    bus = Bus()
    events: list[Event] = []
    bus.on(events.append)
    hw = start_hardware(
        cfg,
        bus,
        memory=ListWriter(tmp_path),
        stt=ScriptedTranscriber([]),
        vad=MarkedVad(),
        speaker=RecordingSpeaker(),
        factory=factory,
    )
    return hw, events


def test_no_gpio_and_no_camera_is_one_clear_line_and_the_device_still_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # This machine has no GPIO chip a pin factory can use, and no /dev/video57.
    cfg = config(tmp_path, '[camera]\nsource = "57"\n')
    with caplog.at_level(logging.INFO, logger="secondself.hw"):
        hw, events = start(cfg, tmp_path)
    try:
        assert (hw.button, hw.led, hw.camera) == (None, None, None)
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1
        assert lines[0].startswith("hardware: button and LED off: no GPIO (lgpio: ")
        assert "camera off: /dev/video57 not found" in lines[0]
        assert "secondself doctor" in lines[0]
        assert hw.device.snapshot_for_voice() == "The camera is not set up."
        assert [e.code for e in events if isinstance(e, StageError)] == ["camera-missing"]
    finally:
        hw.close()


def test_disabled_hardware_is_not_touched_and_not_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(
        tmp_path, '[button]\nenabled = false\n[led]\nkind = "none"\n[camera]\nenabled = false\n'
    )
    with caplog.at_level(logging.INFO, logger="secondself.hw"):
        hw, _ = start(cfg, tmp_path)
    hw.close()
    assert caplog.records == []


def test_mock_pins_from_the_config(tmp_path: Path) -> None:
    factory = pin_factory("mock")
    assert isinstance(factory, MockFactory)
    cfg = config(tmp_path, '[led]\nkind = "rgb"\npins = "5,6,13"\n[camera]\nenabled = false\n')
    hw, _ = start(cfg, tmp_path, factory)
    try:
        assert hw.button is not None and hw.led is not None
        factory.pin(17).drive_low()  # the button's pin is claimed, as an input
        factory.pin(17).drive_high()
    finally:
        hw.close()
        factory.reset()


def test_a_named_pin_factory_that_is_missing_says_so() -> None:
    with pytest.raises(SecondselfError) as raised:
        pin_factory("rpigpio")
    assert raised.value.code == "gpio-unavailable"
    assert raised.value.message.startswith("no GPIO (rpigpio: ")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[button]\nshort = "photo"\n', "button.short"),
        ('[led]\npins = "27, x"\n', "led.pins"),
        ("[button]\nhold_s = 0.05\n", "button.hold_s"),
        ('[gpio]\npin_factory = "wiringpi"\n', "gpio.pin_factory"),
        ("[camera]\njpeg_quality = 101\n", "camera.jpeg_quality"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        config(tmp_path, text)


def test_led_pin_count_must_fit_the_kind(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[led]\nkind = "rgb"\npins = "27"\n')
    with pytest.raises(ConfigError, match=r"'led\.pins' must list 3 pin"):
        start(cfg, tmp_path, MockFactory())


def test_doctor_checks_say_how_to_fix(tmp_path: Path) -> None:
    checks = {c.name: c for c in check_hardware(config(tmp_path, '[camera]\nsource = "57"\n'))}
    assert not checks["button and LED"].ok and "lgpio" in checks["button and LED"].fix
    assert not checks["camera"].ok and "rpicam-still" in checks["camera"].fix
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    mocked = check_hardware(
        config(tmp_path, f'[gpio]\npin_factory = "mock"\n[camera]\nsource = "{video}"\n')
    )
    assert [(c.name, c.ok) for c in mocked] == [("button", True), ("LED", True), ("camera", True)]


def test_importing_the_hardware_package_touches_no_hardware() -> None:
    code = (
        "import sys, secondself.service.hardware, secondself.hw.device, secondself.hw.led;"
        "print(sorted(m for m in ('gpiozero', 'cv2', 'sounddevice') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_announcer_speaks_through_the_speaker() -> None:
    speaker, synth = RecordingSpeaker(), ToneSynthesizer()
    announcer(synth, speaker)("The camera is not set up.")
    assert synth.spoken == ["The camera is not set up."] and len(speaker.played) == 1
