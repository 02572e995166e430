"""The voice pipeline end to end, with the real models and real SQLite + sqlite-vec:
offline over recordings (`listen`), and live through the virtual sound card."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.core.events import (
    AnswerDone,
    Event,
    MemorySaved,
    Speaking,
    SpeakingDone,
    SpeechEnded,
    StageError,
    Transcript,
    WakeDetected,
)
from secondself.core.protocols import Speech
from secondself.service.app import App
from secondself.service.loading import Pipeline, load_pipeline
from secondself.service.session import Session, recording_frames, start_session
from secondself.voice.audio_file import read_audio, write_wav
from secondself.voice.microphone import Microphone
from secondself.voice.speaker import SoundDeviceSpeaker
from secondself.voice.stt import WhisperTranscriber
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence

pytestmark = pytest.mark.e2e

REMEMBER = "Hey Jarvis, remember that my dog is called Biscuit."
QUESTION = "Hey Jarvis, what is my dog's name?"


@pytest.fixture(scope="module")
def pipeline(model_store: ModelStore) -> Pipeline:
    return load_pipeline(load_config(), model_store, Bus())


@pytest.fixture(scope="module")
def whisper(model_store: ModelStore) -> WhisperTranscriber:
    return WhisperTranscriber(model_store.path("whisper-tiny.en", 1).parent, threads=1)


def app_for(home: Path) -> tuple[App, list[Event]]:
    app = App(home_override=str(home))
    events: list[Event] = []
    app.bus.on(events.append)
    return app, events


class Collector:
    """A Speaker that keeps what it is asked to play (offline runs)."""

    def __init__(self) -> None:
        self.played: list[Speech] = []

    def play(self, speech: Speech) -> None:
        self.played.append(speech)

    def stop(self) -> None:
        pass


def run_offline(pipeline: Pipeline, home: Path, audio: np.ndarray) -> tuple[list[Event], Collector]:
    app, events = app_for(home)
    speaker = Collector()
    session = start_session(app, speaker, pipeline)
    try:
        asyncio.run(session.loop.run(recording_frames(audio), wait_for_turns=True))
    finally:
        session.close()
    return events, speaker


def test_listen_command_remembers_then_answers(
    tmp_path: Path, say: Say, whisper: WhisperTranscriber
) -> None:
    recording = np.concatenate(
        [silence(0.5), say(REMEMBER), silence(2.5), say(QUESTION), silence(1)]
    )
    wav = tmp_path / "two-turns.wav"
    write_wav(wav, recording, 16000)
    out = tmp_path / "replies"
    env = {**os.environ, "SECONDSELF_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "secondself", "listen", str(wav), "--json", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names.count("WakeDetected") >= 1
    assert "MemorySaved" in names
    answer = next(e for e in events if e["event"] == "AnswerDone")
    assert "biscuit" in answer["text"].lower()
    replies = sorted(out.glob("reply-*.wav"))
    assert len(replies) == 2
    heard = whisper.transcribe(read_audio(replies[-1]))
    assert "biscuit" in heard.lower(), heard


@pytest.mark.parametrize("kind", ["no wake word", "silence", "white noise", "clipped speech"])
def test_nothing_to_answer_gives_no_reply_and_no_error(
    tmp_path: Path, say: Say, pipeline: Pipeline, kind: str
) -> None:
    rng = np.random.default_rng(7)
    audio = {
        "no wake word": lambda: np.concatenate([say("What is my dog's name?"), silence(1)]),
        "silence": lambda: silence(8),
        "white noise": lambda: rng.normal(0, 3000, 16000 * 8).astype(np.int16),
        "clipped speech": lambda: np.clip(
            say("What is the weather like?").astype(np.int32) * 20, -32768, 32767
        ).astype(np.int16),
    }[kind]()
    events, speaker = run_offline(pipeline, tmp_path, audio)
    assert speaker.played == []
    assert not any(isinstance(e, WakeDetected | StageError | AnswerDone) for e in events)


def test_follow_up_without_the_wake_word_uses_the_previous_turn(
    tmp_path: Path, say: Say, pipeline: Pipeline
) -> None:
    audio = np.concatenate(
        [
            say(REMEMBER),
            silence(2),
            say(QUESTION),
            silence(1.5),
            say("And what is he called again?"),
            silence(1),
        ]
    )
    events, _ = run_offline(pipeline, tmp_path, audio)
    answers = [e for e in events if isinstance(e, AnswerDone)]
    assert len(answers) == 2
    assert all("biscuit" in a.text.lower() for a in answers), [a.text for a in answers]
    # Both lines that start with "Hey Jarvis" wake it (the second one inside the first's
    # follow-up window: a wake word there is a new wake); the third needs none.
    assert sum(isinstance(e, WakeDetected) for e in events) == 2


def test_a_pause_inside_a_sentence_does_not_cut_the_user_off(
    tmp_path: Path, say: Say, pipeline: Pipeline
) -> None:
    """A second of "um" in the middle: the turn model waits for the rest, where a 0.6 s
    silence alone cut the sentence in two."""
    audio = np.concatenate(
        [
            say("Hey Jarvis, remember that the spare key is, um"),
            silence(1.0),
            say("under the blue pot."),
            silence(1),
        ]
    )
    assert pipeline.turn is not None
    events, _ = run_offline(pipeline, tmp_path / "model", audio)
    assert sum(isinstance(e, SpeechEnded) for e in events) == 1
    heard = [e.text for e in events if isinstance(e, Transcript)][-1].lower()
    assert "spare key" in heard and "blue pot" in heard, heard
    cut, _ = run_offline(replace(pipeline, turn=None), tmp_path / "silence", audio)
    assert sum(isinstance(e, SpeechEnded) for e in cut) == 2


# --- live, through the virtual sound card ----------------------------------------------


@pytest.fixture
def live(
    soundcard: VirtualSoundCard, pipeline: Pipeline, tmp_path: Path
) -> Iterator[tuple[Session, list[Event], VirtualSoundCard]]:
    app, events = app_for(tmp_path)
    session = start_session(app, SoundDeviceSpeaker(), pipeline)
    yield session, events, soundcard
    session.close()


def run_live(
    session: Session,
    card: VirtualSoundCard,
    lines: list[np.ndarray],
    device_rate: int | None = None,
) -> None:
    """Say each line into the microphone, waiting for the daemon's reply between lines."""
    replied = threading.Event()
    session.loop.bus.on(lambda e: replied.set() if isinstance(e, SpeakingDone) else None)

    async def scenario() -> None:
        microphone = Microphone(sample_rate=device_rate).start()
        task = asyncio.create_task(session.loop.run(microphone.frames()))
        try:
            for audio in lines:
                replied.clear()
                await asyncio.to_thread(card.play_into_mic, audio)
                assert await asyncio.to_thread(replied.wait, 60), "no reply"
        finally:
            task.cancel()
            microphone.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("device_rate", [None, 48000], ids=["16k", "48k-device"])
def test_spoken_question_gets_a_spoken_answer(
    live: tuple[Session, list[Event], VirtualSoundCard],
    say: Say,
    whisper: WhisperTranscriber,
    device_rate: int | None,
) -> None:
    session, events, card = live
    card.start_recording(rate=16000)
    try:
        run_live(session, card, [say(REMEMBER), say(QUESTION)], device_rate)
    finally:
        played = card.stop_recording()
    assert any(isinstance(e, MemorySaved) for e in events)
    answer = [e for e in events if isinstance(e, AnswerDone)][-1]
    assert "biscuit" in answer.text.lower()
    heard = whisper.transcribe(played)
    assert "biscuit" in heard.lower(), heard
    assert "remember" in heard.lower(), heard  # the confirmation was played too


def voiced_samples(audio: np.ndarray, frame: int = 320) -> int:
    """Samples in 20 ms frames louder than near-silence."""
    frames = audio[: audio.size - audio.size % frame].reshape(-1, frame).astype(np.float32)
    loud = np.sqrt((frames**2).mean(axis=1)) > 300
    return int(loud.sum()) * frame


class LongAnswer:
    """A long, grounded answer (the real model's answers are one short sentence), so there
    is time to interrupt it. Everything else in the pipeline is real."""

    name = "long-answer"

    def stream(self, messages: object, max_tokens: int) -> Iterator[str]:
        for _ in range(8):
            yield "Your dog is called Biscuit. "


@pytest.mark.parametrize("interruption", ["Hey Jarvis!", "Stop."])
def test_barge_in_and_stop_end_the_reply(
    soundcard: VirtualSoundCard, pipeline: Pipeline, tmp_path: Path, say: Say, interruption: str
) -> None:
    app, events = app_for(tmp_path)
    session = start_session(app, SoundDeviceSpeaker(), replace(pipeline, answerer=LongAnswer()))
    session.store.remember("my dog is called Biscuit")
    # The model must answer (a memory said directly would be over before the interruption).
    session.conversation.settings = replace(session.conversation.settings, direct_similarity=0)
    speaking = threading.Event()
    finished = threading.Event()

    def watch(event: Event) -> None:
        if isinstance(event, Speaking):
            speaking.set()
        if isinstance(event, SpeakingDone):
            finished.set()

    app.bus.on(watch)

    async def scenario() -> None:
        microphone = Microphone().start()
        task = asyncio.create_task(session.loop.run(microphone.frames()))
        try:
            await asyncio.to_thread(soundcard.play_into_mic, say(QUESTION))
            assert await asyncio.to_thread(speaking.wait, 60)
            await asyncio.sleep(1.0)  # well into the reply
            await asyncio.to_thread(soundcard.play_into_mic, say(interruption))
            stopped = await asyncio.to_thread(finished.wait, 10)
            assert stopped, [(round(e.t, 2), e.name) for e in events]
        finally:
            task.cancel()
            microphone.stop()

    soundcard.start_recording(rate=16000)
    try:
        asyncio.run(scenario())
    finally:
        played = soundcard.stop_recording()
        session.close()
    done = [e for e in events if isinstance(e, SpeakingDone)]
    assert done[0].interrupted, [(round(e.t, 2), e.name) for e in events]
    # Most of the answer was never played.
    whole = sum(say(s).size for s in ["Your dog is called Biscuit."] * 8)
    assert voiced_samples(played) < whole / 2
    if interruption.startswith("Hey"):
        assert sum(isinstance(e, WakeDetected) for e in events) == 2
