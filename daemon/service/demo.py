"""The main job, shown on a machine with no microphone (a server, CI).

`make run` starts a private virtual sound card, the piper voice speaks a two-turn scenario
into the daemon's microphone, and the daemon hears, remembers and answers through the real
sounddevice path with the real models. Nothing is canned: every line printed comes from a
stage's event, and the spoken replies are recorded to a WAV file.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from dataclasses import dataclass, field

from secondself.core.clock import now
from secondself.core.events import Event, NothingHeard, Speaking, SpeakingDone, SpeechEnded
from secondself.core.protocols import SAMPLE_RATE, Audio
from secondself.service.app import App
from secondself.service.console import EventPrinter
from secondself.service.session import Session, start_session
from secondself.voice.audio_file import write_wav
from secondself.voice.microphone_supervisor import MicrophoneSupervisor
from secondself.voice.resample import resample
from secondself.voice.speaker import SoundDeviceSpeaker
from secondself.voice.virtual_soundcard import VirtualSoundCard

SCENARIO = (
    "Hey Jarvis, remember that my dog is called Biscuit.",
    "Hey Jarvis, what is my dog's name?",
)
TURN_TIMEOUT_S = 60.0


@dataclass
class TurnRecord:
    said: str
    reply: list[str] = field(default_factory=list)
    speech_ended: float | None = None
    first_audio: float | None = None

    @property
    def latency_s(self) -> float | None:
        if self.speech_ended is None or self.first_audio is None:
            return None
        return self.first_audio - self.speech_ended


def run_demo(app: App) -> int:
    print(
        "secondself: no microphone here, so the main job runs on a virtual sound card:\n"
        "  the piper voice speaks into the daemon's microphone; the daemon hears, remembers\n"
        "  and answers with the real models.\n",
        file=sys.stderr,
    )
    # A data home of its own, emptied first: the demo never touches the user's memories.
    demo_home = app.home / "demo"
    shutil.rmtree(demo_home / "users", ignore_errors=True)
    app = App(config_file=app.config_file, home_override=str(demo_home), bus=app.bus)
    app.bus.on(EventPrinter(show_text=True))
    with VirtualSoundCard() as card:
        session = start_session(app, SoundDeviceSpeaker.from_config(app.config.audio))
        rate = session.pipeline.synth.sample_rate
        microphone = MicrophoneSupervisor.from_config(app.config.audio)
        lines = [
            resample(session.pipeline.synth.synthesize(text), rate, SAMPLE_RATE)
            for text in SCENARIO
        ]
        card.start_recording(rate=rate)
        try:
            turns = asyncio.run(_play(app, session, microphone, card, lines))
        finally:
            recorded = card.stop_recording()
            microphone.stop()
            session.close()
    reply_file = demo_home / "replies.wav"
    write_wav(reply_file, recorded, rate)
    print(f"\nspoken replies recorded to {reply_file}")
    for turn in turns:
        latency = f"{turn.latency_s:.2f} s" if turn.latency_s is not None else "n/a"
        reply = " ".join(turn.reply)
        print(f'  "{turn.said}" -> "{reply}" (reply audio {latency} after the endpoint)')
    silence = app.config.vad.trailing_silence_s
    print(f"  (the endpoint is {silence} s of silence after the last word)")
    return 0 if all(t.reply for t in turns) else 1


async def _play(
    app: App,
    session: Session,
    microphone: MicrophoneSupervisor,
    card: VirtualSoundCard,
    lines: list[Audio],
) -> list[TurnRecord]:
    loop = asyncio.get_running_loop()
    finished: asyncio.Queue[Event] = asyncio.Queue()
    turns: list[TurnRecord] = []

    def watch(event: Event) -> None:
        turn = turns[-1] if turns else None
        if turn is None:
            return
        if isinstance(event, SpeechEnded):
            turn.speech_ended = event.t
        elif isinstance(event, Speaking):
            turn.reply.append(event.sentence)
            if turn.first_audio is None:
                # When it is published, not when it was made: a speculative turn makes its
                # speech early and lets it out once the user has surely finished.
                turn.first_audio = now()
        elif isinstance(event, SpeakingDone | NothingHeard):
            loop.call_soon_threadsafe(finished.put_nowait, event)

    unsubscribe = app.bus.on(watch)
    listening = asyncio.create_task(session.loop.run(microphone.start().frames()))
    try:
        for text, audio in zip(SCENARIO, lines, strict=True):
            turns.append(TurnRecord(said=text))
            await asyncio.to_thread(card.play_into_mic, audio, SAMPLE_RATE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.get(), TURN_TIMEOUT_S)
            await asyncio.sleep(0.3)
        return turns
    finally:
        unsubscribe()
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
