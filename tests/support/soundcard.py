"""pytest fixtures for the virtual sound card (secondself.voice.virtual_soundcard)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from secondself.voice.virtual_soundcard import VirtualSoundCard

__all__ = ["VirtualSoundCard", "mic_plugged", "soundcard"]


@pytest.fixture(scope="session")
def soundcard() -> Iterator[VirtualSoundCard]:
    """The virtual sound card, shared by the session; each test leaves the mic plugged in."""
    try:
        card = VirtualSoundCard().start()
    except RuntimeError as exc:
        pytest.fail(f"virtual sound card: {exc}")
    try:
        yield card
    finally:
        card.stop()


@pytest.fixture
def mic_plugged(soundcard: VirtualSoundCard) -> Iterator[VirtualSoundCard]:
    """The sound card, with its microphone plugged back in after the test."""
    yield soundcard
    with contextlib.suppress(RuntimeError):
        soundcard.add_mic()
