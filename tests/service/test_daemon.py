"""`secondself run` as systemd runs it, end to end: real models, the virtual sound card, a
notify socket bound here. READY with load times, a private data home, watchdog pings,
metrics over HTTP after a spoken conversation, the microphone unplugged and plugged back in,
SIGHUP reloading the config, a user forgotten by the CLI while it runs, and SIGTERM finishing
the memory write in flight and exiting within 5 s."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import apsw
import httpx2
import numpy as np
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from secondself.voice.stt import WhisperTranscriber
from secondself.voice.virtual_soundcard import VirtualSoundCard
from secondself.weights.manifest import ModelStore
from tests.conftest import Say
from tests.memory.test_support import files_containing
from tests.support.private import not_private

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REMEMBER = "Hey Jarvis, remember that my dog is called Biscuit."
QUESTION = "Hey Jarvis, what is my dog's name?"
LAST_WORDS = "Hey Jarvis, remember that the spare key is under the blue pot."
FACT = "Hey Jarvis, remember that my locker number is seventeen."
ASK_FACT = "Hey Jarvis, what is my locker number?"
CONFIG = "[wake]\nthreshold = 0.5\n"


def load_script(name: str) -> ModuleType:
    """scripts/NAME.py as a module (the soak's harness runs the daemon as systemd does)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


soak = load_script("soak")


@pytest.fixture(scope="module")
def service(soundcard: VirtualSoundCard, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    home = tmp_path_factory.mktemp("service")
    config = home / "config.toml"
    config.write_text(CONFIG)
    process = soak.ServiceProcess(home, args=("--config", str(config)))
    process.start()
    process.wait_for("READY=1", 120)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def whisper(model_store: ModelStore) -> WhisperTranscriber:
    """Another model's ears, to hear what the daemon said."""
    return WhisperTranscriber(model_store.path("whisper-tiny.en", 1).parent, threads=1)


def converse(service: object, card: VirtualSoundCard, audio: object) -> bool:
    replied, _latency, errors = soak.converse(service, card, audio)
    assert errors == 0
    return bool(replied)


def test_ready_reports_start_up_timings(service: soak.ServiceProcess) -> None:
    lines = service.history
    ready = lines.index("READY=1")
    status = lines[ready + 1]
    assert status.startswith("STATUS=ready "), lines
    for model in ("hey_jarvis", "moonshine-base-en", "qwen2.5-0.5b-instruct", "en_US-joe-medium"):
        assert f"{model} " in status
    # While loading, STATUS said which model had loaded.
    assert any(line.startswith("STATUS=loading models: ") for line in lines[:ready])


def test_the_data_home_is_private_while_running(service: soak.ServiceProcess) -> None:
    """Started under this shell's umask, not systemd's UMask=0077: still its owner's alone."""
    assert not_private(service.home / "data") == []


def test_watchdog_pings_while_idle(service: soak.ServiceProcess) -> None:
    service.wait_for("WATCHDOG=1", 10)
    service.wait_for("WATCHDOG=1", 10)


def test_metrics_after_a_spoken_conversation(
    service: soak.ServiceProcess, mic_plugged: VirtualSoundCard, say: Say
) -> None:
    assert converse(service, mic_plugged, say(REMEMBER))
    assert converse(service, mic_plugged, say(QUESTION))
    values = service.metrics()  # real HTTP on loopback
    assert values["secondself_wakes_total"] >= 2
    assert values['secondself_memories_saved_total{kind="note",source="voice"}'] >= 1
    assert values["secondself_turns_total"] >= 2
    assert values['secondself_stage_seconds_count{stage="stt"}'] >= 2
    assert values['secondself_stage_seconds_count{stage="tts"}'] >= 2
    assert values["secondself_reply_latency_seconds_count"] >= 2
    assert values["secondself_microphone_open"] == 1
    assert values["process_resident_memory_bytes"] > 100e6
    assert not any(k.startswith("secondself_errors_total{") for k in values)
    assert "biscuit" not in service.stderr().lower()  # no memory text in the log at INFO


def unplug(service: soak.ServiceProcess, card: VirtualSoundCard) -> None:
    """Unplugs the microphone while the daemon is held still, so the unplug is one event.

    The card ends the streams reading the microphone and then unloads it. A daemon that
    reopens at once lands in between, and PulseAudio moves that new stream to another
    source, where it never notices the unplug (and ending such a stream a second time sends
    PortAudio's ALSA thread spinning). A real unplug has no such gap.
    """
    os.kill(service.pid, signal.SIGSTOP)
    try:
        card.remove_mic()
    finally:
        os.kill(service.pid, signal.SIGCONT)
    service.wait_for("STATUS=microphone missing", 30)


def test_microphone_unplugged_and_back(
    service: soak.ServiceProcess, mic_plugged: VirtualSoundCard, say: Say
) -> None:
    unplug(service, mic_plugged)
    service.wait_for("WATCHDOG=1", 10)  # a missing microphone is not a hang
    assert service.metrics()["secondself_microphone_open"] == 0
    mic_plugged.add_mic()
    service.wait_for("STATUS=listening on", 30)
    assert converse(service, mic_plugged, say(QUESTION))  # listening resumed
    assert service.process.poll() is None


def test_sighup_reloads_the_config(service: soak.ServiceProcess, tmp_path: Path) -> None:
    config = service.home / "config.toml"
    config.write_text("[wake]\nthreshold = 0.6\n[llm]\nthreads = 2\n")
    service.process.send_signal(signal.SIGHUP)
    service.wait_for("RELOADING=1", 10)
    status = service.wait_for("STATUS=config reloaded", 10)
    assert "applied wake.threshold" in status
    assert "needs a restart: llm.threads" in status
    assert "; listening on" in status  # `systemctl status` still says how the microphone is

    config.write_text("[wake]\nthreshold = 7\n")  # invalid: the running config is kept
    service.process.send_signal(signal.SIGHUP)
    status = service.wait_for("STATUS=reload failed", 10)
    assert "wake.threshold" in status
    service.wait_for("WATCHDOG=1", 10)
    assert service.process.poll() is None
    config.write_text(CONFIG)


def saved_texts(db_file: Path, word: str) -> list[str]:
    """The memories (conversation turns too) holding `word`, read beside the daemon."""
    db = apsw.Connection(str(db_file))
    try:
        rows = db.execute("SELECT text FROM memories WHERE instr(lower(text), ?) > 0", (word,))
        return [str(text) for (text,) in rows]
    finally:
        db.close()


def test_mcp_on_the_daemons_port_answers_from_its_memories(
    service: soak.ServiceProcess, soundcard: VirtualSoundCard
) -> None:
    """The streamable-HTTP MCP client with the install's token: what it remembers, the
    daemon's own models answer from (its silent conversation: not a sound is played)."""
    token = (service.home / "data" / "web-access-token").read_text().strip()

    async def use(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        saved = await client.call_tool("remember", {"text": "my bike is a green Peugeot"})
        answer = await client.call_tool("ask", {"question": "What kind of bike do I have?"})
        assert not saved.is_error and not answer.is_error, (saved, answer)
        assert saved.structured_content is not None and answer.structured_content is not None
        return saved.structured_content, answer.structured_content

    async def connected() -> tuple[dict[str, Any], dict[str, Any]]:
        url = f"http://127.0.0.1:{service.port}/mcp"
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            asyncio.timeout(120),
            httpx2.AsyncClient(headers=headers, timeout=120) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return await use(client)

    soundcard.start_recording(rate=16000)
    try:
        saved, answer = asyncio.run(connected())
    finally:
        played = soundcard.stop_recording()
    assert played.size > 0 and int(np.abs(played.astype(np.int32)).max()) < 100  # silence
    assert "peugeot" in answer["answer"].lower(), answer
    assert saved["memory"]["id"] in [s["id"] for s in answer["sources"]]
    assert answer["persona"] == "personal" and answer["personal_score"] > 0
    assert service.process.poll() is None


def test_a_user_forgotten_by_the_cli_is_forgotten_by_the_running_daemon(
    service: soak.ServiceProcess,
    mic_plugged: VirtualSoundCard,
    say: Say,
    whisper: WhisperTranscriber,
) -> None:
    data = service.home / "data"
    assert converse(service, mic_plugged, say(FACT))
    assert converse(service, mic_plugged, say(ASK_FACT))
    saved = saved_texts(data / "users" / "default" / "memory.db", "locker")
    answered = [t for t in saved if t.startswith("Q: ")]
    assert answered and any(n in answered[-1].lower() for n in ("seventeen", "17")), saved
    forgot = subprocess.run(
        [sys.executable, "-m", "secondself", "forget", "--user-all", "--yes"],
        env={**os.environ, "SECONDSELF_HOME": str(data)}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert forgot.returncode == 0, forgot.stderr
    mic_plugged.start_recording(rate=16000)
    try:
        assert converse(service, mic_plugged, say(ASK_FACT))
    finally:
        played = mic_plugged.stop_recording()
    heard = whisper.transcribe(played).lower()
    assert "don't know" in heard or "do not know" in heard, heard
    assert files_containing(data, [t.encode() for t in saved]) == []
    assert service.process.poll() is None


def test_sigterm_finishes_the_memory_write_and_exits_within_5_s(
    service: soak.ServiceProcess, mic_plugged: VirtualSoundCard, say: Say
) -> None:
    playing = mic_plugged.play_into_mic(say(LAST_WORDS), wait=False)
    service.next_event({"SpeechEnded"}, 60)  # the turn begins: transcribe, then save
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(10)
    took = time.monotonic() - started
    playing.wait(30)
    assert code == 0, service.stderr()
    assert took < 5.0, f"exit took {took:.1f} s"
    service.wait_for("STOPPING=1", 5)
    db = apsw.Connection(str(service.home / "data" / "users" / "default" / "memory.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        saved = db.execute("SELECT count(*) FROM memories WHERE text LIKE '%spare key%'")
        assert saved.fetchone() == (1,), service.stderr()
    finally:
        db.close()
