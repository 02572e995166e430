"""Photo descriptions by a vision model: the cloud path against a real HTTP server on
loopback (what is sent, the persona's policy, down / slow / failing servers), photos taken
by the device into the real store, and the local llama.cpp captioner's set-up errors.

(No multimodal GGUF ships in a PyPI package, so a local description is not run here: only
its configuration is checked.)"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.answer.backoff import BackoffPolicy
from secondself.answer.cloud_errors import CloudError
from secondself.answer.recall import PersonaMemory
from secondself.answer.turn import Conversation
from secondself.answer.vision import (
    PROMPT,
    CloudCaptioner,
    LlamaCaptioner,
    captioner_for,
    clean_caption,
)
from secondself.core.bus import Bus
from secondself.core.config import Config, load_config
from secondself.core.errors import ConfigError
from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.memory.model import SearchFilter
from secondself.memory.photos import photo_parts, photo_text
from secondself.memory.store import MemoryStore
from secondself.service.hardware import check_hardware, start_hardware
from secondself.weights.manifest import ModelStore
from tests.answer.test_cloud import KEY, Loopback, free_port, raw, stall, whole
from tests.answer.test_cloud import loopback as loopback  # the fixture
from tests.cli.test_cli_snapshot_correct import cli
from tests.hw.test_camera import write_video
from tests.support.fakes import (
    MarkedVad,
    RecordingSpeaker,
    ScriptedAnswerModel,
    ScriptedTranscriber,
    ToneSynthesizer,
)
from tests.support.photo_rig import PhotoRig

JPEG_MAGIC = b"\xff\xd8\xff"
SEEN = "A red sailing boat moored on a calm lake."
SPOKEN = "My holiday."


def config_for(
    tmp_path: Path, base_url: str, vision: str = "cloud", wait_s: float = 5.0, **extra: str
) -> Config:
    key = tmp_path / "api.key"
    key.write_text(KEY)
    key.chmod(0o600)
    video = write_video(tmp_path / "camera.avi", 8)
    camera = {"vision": vision, "vision_model": "eyes-1", "vision_wait_s": wait_s, **extra}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in camera.items())
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[button]
enabled = false
[led]
kind = "none"
[earcons]
enabled = false
[camera]
source = "{video}"
caption_s = 2.0
{lines}
[cloud]
enabled = true
base_url = "{base_url}"
model = "big-model"
api_key_file = "{key}"
connect_timeout_s = 1.0
first_token_timeout_s = 3.0
timeout_s = 3.0
"""
    )
    return load_config(path, environ={}, system_files=[])


# --- unit: the description, the captioner chosen by config and policy -------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("A red sailing boat on a lake.", "a red sailing boat on a lake"),
        ("The image shows a dog asleep on a sofa.", "a dog asleep on a sofa"),
        ('"Sure! This photo depicts: two cups of coffee."', "two cups of coffee"),
        ("Paris at night,\nseen from a bridge.", "Paris at night, seen from a bridge"),
        ("word " * 80, ("word " * 40).strip()),
        ("In this image, a cat on a wall.", "a cat on a wall"),
        ("The picture frame on the wall is crooked.", "the picture frame on the wall is crooked"),
        ("The photographer stands by the river.", "the photographer stands by the river"),
        ("The photos of a family on a shelf.", "the photos of a family on a shelf"),
    ],
)
def test_clean_caption(said: str, kept: str) -> None:
    assert clean_caption(said) == kept


@pytest.mark.unit
@pytest.mark.parametrize("policy", ["never", "without-memories"])
def test_a_policy_that_sends_no_memories_makes_no_cloud_captioner(
    tmp_path: Path, policy: str
) -> None:
    off: list[str] = []
    assert captioner_for(config_for(tmp_path, "http://127.0.0.1:9/v1"), policy, off) is None
    assert off == [
        f"photo descriptions off: the persona's backoff policy is {policy!r}; "
        "a photo goes to the cloud only under 'with-memories'"
    ]


@pytest.mark.unit
def test_cloud_captioner_needs_the_cloud_enabled_and_uses_the_vision_model(tmp_path: Path) -> None:
    config = config_for(tmp_path, "http://127.0.0.1:9/v1")
    made = captioner_for(config, BackoffPolicy.WITH_MEMORIES, [])
    assert isinstance(made, CloudCaptioner) and made.name == "eyes-1"
    no_cloud = load_config(
        tmp_path / "config.toml", environ={"SECONDSELF_CLOUD_ENABLED": "false"}, system_files=[]
    )
    off: list[str] = []
    assert captioner_for(no_cloud, "with-memories", off) is None
    assert off == ['photo descriptions off: camera.vision = "cloud" needs cloud.enabled']
    none = config_for(tmp_path, "http://127.0.0.1:9/v1", vision="none")
    assert captioner_for(none, "with-memories", off) is None


@pytest.mark.unit
def test_local_captioner_with_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    model = tmp_path / "llava.gguf"
    model.write_bytes(b"GGUF")
    projector = tmp_path / "mmproj.gguf"
    config = config_for(
        tmp_path,
        "http://127.0.0.1:9/v1",
        vision="local",
        vision_model=str(model),
        vision_projector=str(projector),
    )
    with pytest.raises(ConfigError) as raised:
        captioner_for(config, "never", [])
    assert str(raised.value) == f"config key 'camera.vision_projector': {projector} not found"
    assert "\n" not in str(raised.value)
    (check,) = [c for c in check_hardware(config) if c.name == "vision"]
    assert not check.ok and check.detail == str(raised.value) and "mmproj" in check.fix
    with pytest.raises(ConfigError, match=r"'camera\.vision_model' must be set"):
        LlamaCaptioner("", projector)
    projector.write_bytes(b"GGUF")
    made = captioner_for(config, "never", [])  # nothing is loaded before the first photo
    assert isinstance(made, LlamaCaptioner) and made.name == "llava.gguf"
    with pytest.raises(ConfigError, match=r"camera\.vision_handler"):
        LlamaCaptioner(model, projector, "llava-99")
    with pytest.raises(ConfigError, match=r"camera\.vision_handler' must be one of"):
        config_for(tmp_path, "http://127.0.0.1:9/v1", vision_handler="llava-99")


# --- the cloud client against loopback ---------------------------------------------------


@pytest.mark.unit
def test_the_photo_goes_as_a_data_url_with_the_key_and_the_vision_model(
    tmp_path: Path, loopback: Loopback
) -> None:
    loopback.reply = whole(SEEN)
    captioner = captioner_for(config_for(tmp_path, loopback.base_url), "with-memories", [])
    assert captioner is not None
    jpeg = JPEG_MAGIC + b"\x00 a picture \xff"
    assert captioner.caption(jpeg) == "a red sailing boat moored on a calm lake"
    (request,) = loopback.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = request.json()
    assert (body["model"], body["stream"]) == ("eyes-1", False)
    (message,) = body["messages"]
    text, image = message["content"]
    assert (message["role"], text) == ("user", {"type": "text", "text": PROMPT})
    url = image["image_url"]["url"]
    assert image["type"] == "image_url" and url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == jpeg


@pytest.mark.unit
def test_cloud_errors_are_cloud_errors(tmp_path: Path, loopback: Loopback) -> None:
    loopback.reply = raw(500, b'{"error": {"message": "model overloaded"}}')
    captioner = captioner_for(config_for(tmp_path, loopback.base_url), "with-memories", [])
    assert captioner is not None
    with pytest.raises(CloudError) as raised:
        captioner.caption(JPEG_MAGIC)
    assert raised.value.code == CloudError.HTTP and "model overloaded" in raised.value.message


# --- photos taken by the device, into the real store -------------------------------------


@pytest.fixture(scope="module")
def embedder(model_store: ModelStore) -> LlamaEmbedder:
    return load_embedder(model_store, "all-minilm-l6-v2", threads=1)


@pytest.fixture
def rigs() -> Iterator[list[PhotoRig]]:
    made: list[PhotoRig] = []
    yield made
    for rig in made:
        rig.close()


def rig_for(
    config: Config,
    tmp_path: Path,
    embedder: LlamaEmbedder,
    policy: str,
    rigs: list[PhotoRig],
) -> PhotoRig:
    bus = Bus()
    store = MemoryStore.open(tmp_path / "user", embedder, bus=bus)
    hardware = start_hardware(
        config,
        bus,
        memory=store,
        stt=ScriptedTranscriber([SPOKEN]),
        vad=MarkedVad(),
        speaker=RecordingSpeaker(),
        backoff=policy,
    )
    rig = PhotoRig.of(hardware, store, bus)
    rigs.append(rig)
    return rig


def vision_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "secondself.answer.vision"]


@pytest.mark.e2e
@pytest.mark.parametrize("policy", ["never", "without-memories"])
def test_policy_forbids_nothing_is_sent_and_the_photo_keeps_its_spoken_caption(
    tmp_path: Path,
    loopback: Loopback,
    embedder: LlamaEmbedder,
    rigs: list[PhotoRig],
    policy: str,
) -> None:
    loopback.reply = whole(SEEN)
    rig = rig_for(config_for(tmp_path, loopback.base_url), tmp_path, embedder, policy, rigs)
    assert rig.device.captioner is None
    memory = rig.photo()
    assert loopback.received == []  # no connection was even made
    assert memory.text == photo_text(SPOKEN, memory.created)


SERVERS = {
    "down": "cloud-unreachable",
    "slow": "gave no description within",
    "error": "cloud-http",
}


@pytest.mark.e2e
@pytest.mark.parametrize("server", list(SERVERS))
def test_a_failing_vision_server_leaves_the_photo_with_its_spoken_caption_and_one_log_line(
    tmp_path: Path,
    loopback: Loopback,
    embedder: LlamaEmbedder,
    rigs: list[PhotoRig],
    caplog: pytest.LogCaptureFixture,
    server: str,
) -> None:
    url = loopback.base_url
    if server == "down":
        url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    loopback.reply = {"slow": stall, "error": raw(502, b"bad gateway", "text/plain")}.get(
        server, whole(SEEN)
    )
    config = config_for(tmp_path, url, wait_s=1.0)
    with caplog.at_level(logging.INFO):
        rig = rig_for(config, tmp_path, embedder, "with-memories", rigs)
        memory = rig.photo()
    assert memory.text == photo_text(SPOKEN, memory.created)  # saved, spoken caption only
    assert memory.provenance.endswith("(button)")
    (line,) = vision_lines(caplog)
    assert SERVERS[server] in line and "saved with the spoken caption only" in line
    assert len(loopback.received) == (0 if server == "down" else 1)
    assert rig.store.count() == 1


@pytest.mark.e2e
def test_a_description_is_saved_with_the_spoken_caption_and_found_by_its_words(
    tmp_path: Path,
    loopback: Loopback,
    embedder: LlamaEmbedder,
    rigs: list[PhotoRig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    loopback.reply = whole(SEEN)
    rig = rig_for(
        config_for(tmp_path, loopback.base_url), tmp_path, embedder, "with-memories", rigs
    )
    with caplog.at_level(logging.INFO):
        memory = rig.photo()
    parts = photo_parts(memory.text)
    assert parts is not None
    assert (parts.caption, parts.seen) == ("My holiday", "a red sailing boat moored on a calm lake")
    assert memory.provenance.endswith("(button; described by eyes-1)")
    (line,) = vision_lines(caplog)
    assert "eyes-1 described the photo" in line

    rig.store.remember("The sailing club meets on Thursdays")
    rig.store.remember("My sister Anna lives in Lisbon")
    memory_port = PersonaMemory(rig.store, "personal")
    for question in ("What did I photograph?", "Did I take a photo of a boat on a lake?"):
        found = memory_port.recall(question, 5)
        assert [s.memory_id for s in found][:1] == [memory.id], question
    found = rig.store.search("a sailing boat on the lake", SearchFilter("personal"), limit=3)
    assert found[0].memory.id == memory.id
    talk = Conversation(
        Bus(),
        ScriptedTranscriber([]),
        memory_port,
        ScriptedAnswerModel(["never used"]),
        ToneSynthesizer(),
        RecordingSpeaker(),
    )
    reply = asyncio.run(talk.answer("What did I photograph today?")).reply
    assert reply.startswith("Today at ") and reply.endswith("you photographed: your holiday.")


@pytest.mark.e2e
def test_snapshot_command_follows_the_persona_policy(tmp_path: Path, loopback: Loopback) -> None:
    """`secondself snapshot`: nothing is sent while the persona's policy is `never` (the
    default); after `persona edit --backoff with-memories` the description is saved too."""
    loopback.reply = whole(SEEN)
    config_for(tmp_path, loopback.base_url)
    home = tmp_path / "home"

    def snapshot() -> dict[str, str]:
        done = cli(
            home, "snapshot", "--caption", "my holiday", "--json", config=tmp_path / "config.toml"
        )
        assert done.returncode == 0, done.stderr
        saved: dict[str, str] = json.loads(done.stdout)
        return saved

    assert photo_parts(snapshot()["text"]) is not None
    assert loopback.received == []
    edited = cli(home, "persona", "edit", "personal", "--backoff", "with-memories")
    assert edited.returncode == 0, edited.stderr
    parts = photo_parts(snapshot()["text"])
    assert parts is not None
    assert (parts.caption, parts.seen) == ("my holiday", "a red sailing boat moored on a calm lake")
    assert len(loopback.received) == 1
