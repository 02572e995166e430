"""`doctor` finds audio devices exactly as the daemon does (one matcher, no disagreement)."""

from __future__ import annotations

import pytest

from secondself.cli.doctor import Status, check_audio
from secondself.voice.virtual_soundcard import VirtualSoundCard

pytestmark = pytest.mark.e2e


def test_doctor_sees_the_virtual_card_and_names_a_missing_device(
    soundcard: VirtualSoundCard,
) -> None:
    checks = {c.name: c for c in check_audio("", "")}
    assert checks["microphone"].status is Status.OK
    assert checks["speaker"].status is Status.OK
    # A name the daemon would match case-insensitively, doctor matches too.
    assert {c.name: c.status for c in check_audio("PULSE", "Pulse")} == {
        "microphone": Status.OK,
        "speaker": Status.OK,
    }
    missing = {c.name: c for c in check_audio("ReSpeaker", "")}["microphone"]
    assert missing.status is Status.FAIL
    assert "'ReSpeaker'" in missing.detail and "audio.input_device" in missing.fix
