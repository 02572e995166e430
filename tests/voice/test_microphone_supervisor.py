"""The microphone supervisor on the virtual sound card, its microphone unplugged and back.

PulseAudio is real time: each test plays a second or two of speech and takes about that long.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

import pytest

from secondself.core.protocols import FRAME_SAMPLES
from secondself.voice.microphone import Microphone
from secondself.voice.microphone_supervisor import MicrophoneSupervisor, MicState
from tests.conftest import Say
from tests.support.audio_match import listen, window_matches

if TYPE_CHECKING:
    from secondself.voice.virtual_soundcard import VirtualSoundCard


pytestmark = pytest.mark.e2e


def test_supervisor_survives_the_microphone_going_and_coming_back(
    mic_plugged: VirtualSoundCard, say: Say
) -> None:
    card = mic_plugged
    states: list[MicState] = []
    changed = threading.Event()

    def on_state(state: MicState, detail: str) -> None:
        states.append(state)
        changed.set()

    def wait_for(state: MicState, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not (states and states[-1] == state):
            assert time.monotonic() < deadline, f"no {state} after {timeout} s: {states}"
            changed.wait(0.1)
            changed.clear()

    # The default stall_s (3 s) outlasts a new null sink's first 2 s block after add_mic.
    with MicrophoneSupervisor(Microphone, retry_s=0.3, on_state=on_state) as supervisor:
        wait_for(MicState.OPEN)
        assert supervisor.read_frame(timeout=1.0) is not None
        card.remove_mic()
        wait_for(MicState.MISSING)
        while supervisor.read_frame(timeout=0.1) is not None:
            pass  # what was buffered before the unplug
        assert supervisor.read_frame(timeout=0.5) is None
        card.add_mic()
        wait_for(MicState.OPEN)
        heard = listen(supervisor, card, say("I am back."))
    assert window_matches(heard, say("I am back."))[0] > 0.9
    assert states == [MicState.OPEN, MicState.MISSING, MicState.OPEN, MicState.STOPPED]


def test_supervisor_frames_for_asyncio(soundcard: VirtualSoundCard) -> None:
    async def main() -> int:
        count = 0
        with MicrophoneSupervisor(Microphone, retry_s=0.3) as supervisor:
            async for frame in supervisor.frames():
                assert frame.shape == (FRAME_SAMPLES,)
                count += 1
                if count == 5:
                    break
        return count

    assert asyncio.run(asyncio.wait_for(main(), 5)) == 5
