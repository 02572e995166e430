"""Finding sound devices through the real sounddevice path, on the virtual sound card."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import Speech
from secondself.voice.devices import list_devices
from secondself.voice.microphone import Microphone
from secondself.voice.speaker import SoundDeviceSpeaker
from tests.conftest import silence

if TYPE_CHECKING:
    from secondself.voice.virtual_soundcard import VirtualSoundCard


pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("kind", ["microphone", "speaker"])
def test_missing_device_is_a_clear_error(soundcard: VirtualSoundCard, kind: str) -> None:
    with pytest.raises(SecondselfError) as caught:
        if kind == "microphone":
            Microphone("no-such-usb-mic").start()
        else:
            SoundDeviceSpeaker("no-such-usb-mic").play(Speech(silence(0.1), 16000))
    error = caught.value
    assert error.code == "audio-device-missing" and error.stage == Stage.AUDIO
    assert "'no-such-usb-mic'" in error.message and "pulse" in error.message
    assert "secondself doctor" in error.message


def test_list_devices_shows_the_card(soundcard: VirtualSoundCard) -> None:
    devices = {d.name: d for d in list_devices()}
    assert devices["pulse"].inputs > 0 and devices["pulse"].outputs > 0
    assert any(d.default_input for d in devices.values())


def test_importing_the_audio_modules_touches_no_hardware() -> None:
    # `import sounddevice` runs Pa_Initialize, which opens every ALSA device to list it.
    modules = ("devices", "microphone", "microphone_supervisor", "speaker")
    imports = ", ".join(f"secondself.voice.{name}" for name in modules)
    code = f"import sys, {imports}; sys.exit('sounddevice' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
