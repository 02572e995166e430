"""The cloud backoff client against a real OpenAI-compatible server on loopback:
llama-cpp-python's own server (the `[server]` extra) with the small SmolLM2 model."""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.answer.api_key import ApiKey
from secondself.answer.cloud_client import CloudAnswerModel
from secondself.answer.cloud_errors import CloudError
from secondself.answer.prompt import Source
from secondself.core.bus import Bus
from secondself.core.events import BackoffUsed, Event
from secondself.core.protocols import ChatMessage
from secondself.weights.manifest import ModelStore
from tests.answer.test_cloud import free_port

pytestmark = pytest.mark.e2e

KEY = "sk-loopback-7d1e0c9b"
START_S = 120.0  # loading a 100 MB model with one thread; bounded so a hang fails
ASK = [ChatMessage("user", "What is 2+2? Answer with a number.")]
SISTER = [Source(1, "my sister lives in Lyon", "2026-11-20", 0.8)]


@pytest.fixture(scope="module")
def server(model_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of `python -m llama_cpp.server` serving SmolLM2, which needs KEY."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_store.path("smollm2-135m-instruct")),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--n_threads",
        "1",  # two shared cores
        "--n_threads_batch",
        "1",
        "--api_key",
        KEY,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(process, port, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_until_up(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    pytest.fail(f"llama_cpp.server not up in {START_S:g} s")


def client(url: str, bus: Bus | None = None, key: str = KEY) -> CloudAnswerModel:
    return CloudAnswerModel(
        url, "smollm2", ApiKey(key), first_token_timeout_s=60.0, timeout_s=120.0, bus=bus
    )


def test_streams_an_answer(server: str) -> None:
    pieces = list(client(server).stream(ASK, 16))
    assert len(pieces) > 1  # streamed, not one block
    assert "4" in "".join(pieces)


def test_whole_answer(server: str) -> None:
    assert "4" in client(server).complete(ASK, 16)


def test_memories_reach_the_model_only_when_the_policy_sends_them(server: str) -> None:
    bus = Bus()
    seen: list[Event] = []
    bus.on(seen.append)
    model = client(server, bus)
    question = "Where does my sister live?"
    with_memories = "".join(model.backoff("with-memories", question, SISTER, max_tokens=32))
    without = "".join(model.backoff("without-memories", question, SISTER, max_tokens=32))
    assert "Lyon" in with_memories
    assert without.strip() and "Lyon" not in without
    used = [(e.policy, e.memories_sent) for e in seen if isinstance(e, BackoffUsed)]
    assert used == [("with-memories", 1), ("without-memories", 0)]


def test_wrong_key_is_refused_and_not_shown(server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bus = Bus()
    seen: list[Event] = []
    bus.on(seen.append)
    wrong = "sk-wrong-3f9a8b7c"
    with pytest.raises(CloudError) as error:
        list(client(server, bus, key=wrong).stream(ASK, 8))
    assert error.value.code == CloudError.AUTH
    shown = [str(error.value), repr(error.value), caplog.text]
    shown += [json.dumps(e.to_dict()) for e in seen]
    assert not [s for s in shown if wrong in s or KEY in s]


def test_a_stopped_stream_leaves_the_server_usable(server: str) -> None:
    model = client(server)
    pieces = model.stream([ChatMessage("user", "Count from 1 to 50.")], 64)
    next(iter(pieces))
    pieces.close()  # type: ignore[attr-defined]
    assert "4" in "".join(model.stream(ASK, 16))
