"""One daemon, a household: each wake word calls its own user's persona, with that user's
memories and that persona's answer model (from the model pool, under the RAM budget).

Real models throughout, through `secondself listen` (the daemon's pipeline over a
recording): piper speaks "Alexa, ...", "Hey Jarvis, ...", "Hey Mycroft, ..." and the events
say who was called, what they answered and which models the pool loaded and unloaded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from secondself.cli.main import main
from secondself.core.bus import Bus
from secondself.core.config import load_config
from secondself.household.routing import Route
from secondself.service.app import App
from secondself.service.conversations import Conversations, reload_settings
from secondself.service.loading import Pipeline, load_pipeline
from secondself.service.session import Session, start_session
from secondself.voice.audio_file import write_wav
from secondself.weights.manifest import ModelStore
from tests.conftest import Say, silence

pytestmark = pytest.mark.e2e

QWEN, SMOLLM = "qwen2.5-0.5b-instruct", "smollm2-135m-instruct"
LOGS: list[str] = []  # what each `listen` logged
GAP_S = 2.0  # between turns (follow-ups are off: each turn starts with its wake word)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")

    def cli(*args: str) -> None:
        assert main(["--home", str(home), *args]) == 0

    cli("remember", "My dog is called Biscuit")  # the default user, woken by hey_jarvis
    cli("user", "add", "alice", "--wake", "alexa")
    cli("--user", "alice", "remember", "My dog is called Rex")
    cli("remember", "My dog loves chasing squirrels in the park")
    cli("--user", "alice", "persona", "create", "work", "--wake", "hey_mycroft", "--model", SMOLLM)
    for fact in ("The team standup is at nine every morning", "The team retro is on Fridays"):
        cli("--user", "alice", "--persona", "work", "remember", fact)
    return home


def listen(
    home: Path, tmp_path: Path, say: Say, capsys: pytest.CaptureFixture[str], utterances: list[str]
) -> list[dict[str, Any]]:
    """The events of `secondself listen --json` over the utterances, spoken with gaps."""
    gap = silence(GAP_S)
    audio = np.concatenate([part for text in utterances for part in (gap, say(text))])
    wav = tmp_path / "household.wav"
    write_wav(wav, audio, 16000)
    capsys.readouterr()
    assert main(["--home", str(home), "listen", str(wav), "--json"]) == 0
    out, err = capsys.readouterr()
    LOGS.append(err)
    return [json.loads(line) for line in out.splitlines()]


def turns(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(user, persona, answer) per turn, in order."""
    called: list[tuple[str, str]] = []
    answers: list[str] = []
    for event in events:
        if event["event"] == "WakeDetected":
            called.append((event["user"], event["persona"]))
        elif event["event"] == "AnswerDone":
            answers.append(event["text"])
    assert len(called) == len(answers), (called, answers)
    return [
        (user, persona, answer) for (user, persona), answer in zip(called, answers, strict=True)
    ]


def test_each_wake_word_calls_its_own_users_persona(
    home: Path,
    tmp_path: Path,
    say: Say,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECONDSELF_VAD_FOLLOW_UP_S", "0")
    events = listen(
        home,
        tmp_path,
        say,
        capsys,
        ["Alexa. What is my dog's name?", "Hey Jarvis. What is my dog's name?"],
    )
    (alice, rex), (default, biscuit) = [(t[:2], t[2]) for t in turns(events)]
    assert alice == ("alice", "personal") and "rex" in rex.lower()
    assert default == ("default", "personal") and "biscuit" in biscuit.lower()
    assert "biscuit" not in rex.lower() and "rex" not in biscuit.lower()


def test_another_wake_word_in_the_follow_up_window_calls_its_persona(
    home: Path, tmp_path: Path, say: Say, capsys: pytest.CaptureFixture[str]
) -> None:
    """Follow-ups on (5 s): Alice speaks 2 s after Jarvis answered. Her "Alexa" is heard as a
    wake word, so her question goes to her memories, not to the default user's."""
    events = listen(
        home,
        tmp_path,
        say,
        capsys,
        ["Hey Jarvis. What is my dog's name?", "Alexa. What is my dog's name?"],
    )
    (default, biscuit), (alice, rex) = [(t[:2], t[2]) for t in turns(events)]
    assert default == ("default", "personal") and "biscuit" in biscuit.lower()
    assert alice == ("alice", "personal") and "rex" in rex.lower()


def test_the_pool_swaps_answer_models_under_the_budget(
    home: Path,
    tmp_path: Path,
    say: Say,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Qwen (about 595 MB) and SmolLM2 (about 185 MB) do not fit 700 MB together: calling
    the work persona loads SmolLM2 in Qwen's place, and Jarvis's next answer brings Qwen back;
    each answer (made by the model, not said straight from one memory) comes from the right
    persona's memories."""
    monkeypatch.setenv("SECONDSELF_VAD_FOLLOW_UP_S", "0")
    monkeypatch.setenv("SECONDSELF_LLM_RAM_BUDGET_MB", "700")
    events = listen(
        home,
        tmp_path,
        say,
        capsys,
        [
            "Hey Mycroft. Tell me about the team meetings.",
            "Hey Jarvis. Tell me about my dog.",
        ],
    )
    pool = [
        (e["event"], e["model"], e.get("reason", e.get("persona", "")))
        for e in events
        if e["event"] in ("ModelLoading", "ModelUnloaded")
    ]
    assert pool == [
        ("ModelLoading", SMOLLM, "work"),
        ("ModelUnloaded", QWEN, "budget"),
        ("ModelLoading", QWEN, "personal"),
        ("ModelUnloaded", SMOLLM, "budget"),
        ("ModelUnloaded", QWEN, "close"),  # the daemon stops (the recording ended)
    ]
    (work, work_answer), (jarvis, jarvis_answer) = [(t[:2], t[2]) for t in turns(events)]
    assert work == ("alice", "work") and jarvis == ("default", "personal")
    assert any(word in work_answer.lower() for word in ("standup", "nine", "friday"))
    assert "squirrel" in jarvis_answer.lower()


def test_a_persona_that_cannot_start_wakes_no_one(
    tmp_path: Path,
    say: Say,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_store: ModelStore,
) -> None:
    """Alice's persona speaks with a voice file that was deleted since: the daemon starts,
    says why her wake word is off, and "Alexa" then wakes nobody (not the default user)."""
    monkeypatch.setenv("SECONDSELF_VAD_FOLLOW_UP_S", "0")
    home = tmp_path / "home"
    voice = tmp_path / "voice" / "alice.onnx"
    voice.parent.mkdir()
    joe = model_store.path("en_US-joe-medium")
    shutil.copy(joe, voice)
    shutil.copy(joe.with_name(joe.name + ".json"), voice.with_name(voice.name + ".json"))
    assert main(["--home", str(home), "remember", "My dog is called Biscuit"]) == 0
    assert main(["--home", str(home), "user", "add", "alice", "--wake", "alexa"]) == 0
    edit = ["--user", "alice", "persona", "edit", "personal", "--voice", str(voice)]
    assert main(["--home", str(home), *edit]) == 0
    voice.unlink()
    events = listen(
        home,
        tmp_path,
        say,
        capsys,
        ["Alexa. What is my dog's name?", "Hey Jarvis. What is my dog's name?"],
    )
    assert [t[:2] for t in turns(events)] == [("default", "personal")]
    assert "wake word alexa (persona personal of alice) is off" in LOGS[-1]


# --- the daemon's session over a household, without audio ---------------------------------


@pytest.fixture(scope="module")
def pipeline(model_store: ModelStore) -> Pipeline:
    return load_pipeline(load_config(), model_store, Bus())


def session_for(home: Path, pipeline: Pipeline, user: str = "default") -> tuple[App, Session]:
    """The daemon's session as `secondself --home HOME --user USER run` makes it."""
    app = App(home_override=str(home), user=user)
    return app, start_session(app, Collector(), pipeline)


class Collector:
    def play(self, speech: object) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_wake_word_someone_was_given_is_never_taken_by_the_daemons_persona(
    tmp_path: Path, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob's persona was created with "alexa"; the config's wake word becomes "alexa" too.
    Bob keeps it: his questions must not be answered from the default user's memories."""
    home = tmp_path / "home"
    assert main(["--home", str(home), "user", "add", "bob", "--wake", "alexa"]) == 0
    monkeypatch.setenv("SECONDSELF_WAKE_MODEL", "alexa")
    _, session = session_for(home, pipeline)
    try:
        assert session.conversations.route("alexa") == ("bob", "personal")
    finally:
        session.close()
    # Started as bob, the daemon's own persona has it, naturally.
    _, session = session_for(home, pipeline, user="bob")
    try:
        assert session.conversations.route("alexa") == ("bob", "personal")
    finally:
        session.close()


def test_reload_rereads_personas_and_only_the_devices_owner_takes_pictures(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    home = tmp_path / "home"
    cli = ["--home", str(home)]
    assert main([*cli, "persona", "create", "work", "--wake", "alexa"]) == 0
    app, session = session_for(home, pipeline)
    try:
        _, work = session.conversations.for_wake("alexa")
        assert work.settings.backoff == "never"
        assert main([*cli, "persona", "edit", "work", "--backoff", "with-memories"]) == 0
        assert reload_settings(session.conversations, app.config) == []  # as SIGHUP does
        assert work.settings.backoff == "with-memories"  # no restart needed

        # The device's camera belongs to the persona the daemon runs as: another persona's
        # "take a picture" is refused (its photo would land among the owner's memories).
        camera = Shutter()
        conversations = Conversations(
            session.conversations.household,
            session.conversations.shared,
            session.conversations.stores,
            Route("default", "personal"),
            {"alexa": Route("default", "work")},
            camera=camera,
            voices={"en_US-joe-medium": pipeline.synth},
        )
        try:
            _, as_work = conversations.for_wake("alexa")
            assert as_work.camera is not None
            refusal = as_work.camera.snapshot_for_voice()
            assert refusal == "The camera takes pictures for personal of default only."
            assert conversations.get(Route("default", "personal")).camera is camera
            assert camera.taken == 0
        finally:
            conversations.close()
    finally:
        session.close()


class Shutter:
    """A camera port that counts the pictures it is asked to take."""

    def __init__(self) -> None:
        self.taken = 0

    def snapshot_for_voice(self) -> str | None:
        self.taken += 1
        return None
