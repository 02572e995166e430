"""The web page's API against the real server on a loopback port, a real MemoryStore and the
real MiniLM embedder: list, search, remember, forget (gone from every file), share,
conversations with their score and only the sources the persona may see, correct, media,
users kept apart, bad input, and the guards a server on localhost needs (the access token,
as a bearer header and never a cookie; Host, Origin, body size); the token file and
`secondself web`; the page's own threads."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from secondself.answer.recall import PersonaMemory
from secondself.answer.score import personal_score
from secondself.cli.main import main
from secondself.core.bus import Bus
from secondself.core.errors import UserError
from secondself.core.events import AnswerDone, Transcript
from secondself.household.personas import Catalog, Defaults, Persona
from secondself.household.users import Household
from secondself.memory.embedding import LlamaEmbedder, load_embedder
from secondself.memory.model import Kind, MediaInput, Origin, SearchFilter, Visibility
from secondself.memory.store import MemoryStore, forget_user
from secondself.service.metrics import Metrics, scrape
from secondself.web import access, tls
from secondself.web.api import WebApi
from secondself.web.callers import Answers
from secondself.web.server import serve_web
from secondself.web.serving import WebServer
from secondself.web.stores import UserStores
from secondself.weights.manifest import ModelStore
from tests.memory.test_support import files_containing, tiny_jpeg
from tests.support.loop_thread import LoopThread

pytestmark = pytest.mark.e2e

T = TypeVar("T")
DEFAULTS = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
CATALOG = Catalog(
    wake_words=frozenset({"hey_jarvis", "alexa"}),
    voices=frozenset({"en_US-joe-medium"}),
    models=frozenset({"qwen2.5-0.5b-instruct"}),
)
MARKER = "zqxjwebmarker"  # a word in no other memory


@pytest.fixture(scope="session")
def embedder(model_store: ModelStore) -> LlamaEmbedder:
    return load_embedder(model_store, "all-minilm-l6-v2", threads=1)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: http.client.HTTPMessage  # names in any case, as HTTP has them

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Page:
    """The server under test and what it serves."""

    port: int
    home: Path
    household: Household
    stores: UserStores
    bus: Bus
    metrics: Metrics
    server: WebServer
    token: str = field(repr=False)
    runner: LoopThread = field(repr=False)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store(self, user: str = "default") -> MemoryStore:
        """The very store the server uses (thread-safe)."""
        return self.stores.get(user)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str | None] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        sent: dict[str, str | None] = {
            "Host": f"127.0.0.1:{self.port}",
            "Authorization": f"Bearer {self.token}",  # as a script would; None: without
        }
        if method in ("POST", "DELETE"):
            sent["X-Secondself"] = "1"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                method, path, body=data, headers={k: v for k, v in sent.items() if v is not None}
            )
            response = conn.getresponse()
            return Reply(response.status, response.read(), response.msg)
        finally:
            conn.close()

    def remember(self, text: str, user: str = "default", persona: str = "personal") -> int:
        reply = self.call("POST", f"/api/memories?user={user}&persona={persona}", {"text": text})
        assert reply.status == 201, reply.body
        return int(reply.json["id"])


def start_page(home: Path, embedder: LlamaEmbedder, answers: Answers | None = None) -> Page:
    household = Household(home, DEFAULTS, CATALOG)
    bus = Bus()
    metrics = Metrics()
    bus.on(metrics.observe)
    stores = UserStores(household, embedder, bus)
    token = access.load_or_create(home)  # as the daemon does on its first start
    runner = LoopThread()
    server = runner.run(
        serve_web(metrics.render, "127.0.0.1", 0, stores, bus, "default", token, answers=answers)
    )
    return Page(server.port, home, household, stores, bus, metrics, server, token, runner)


def stop_page(page: Page) -> None:
    page.runner.loop.call_soon_threadsafe(page.server.close)
    page.runner.run(page.server.wait_closed())
    page.runner.close()


@pytest.fixture
def page(tmp_path: Path, embedder: LlamaEmbedder) -> Iterator[Page]:
    started = start_page(tmp_path / "home", embedder)
    yield started
    stop_page(started)


def assert_error(reply: Reply, status: int, code: str | None = None) -> None:
    """A refusal is the status and one line of JSON naming what was wrong."""
    assert reply.status == status, (reply.status, reply.body)
    assert b"\n" not in reply.body
    data = reply.json
    assert isinstance(data["error"], str) and data["error"]
    if code is not None:
        assert data["code"] == code, data


def texts(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [m["text"] for m in reply.json["memories"]]


# --- the page -----------------------------------------------------------------------------


def test_the_page_its_script_and_style_are_served_with_a_strict_policy(page: Page) -> None:
    index = page.call("GET", "/")
    assert index.status == 200 and index.headers["Content-Type"].startswith("text/html")
    assert b'<script src="/static/app.js"' in index.body
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in index.headers["Content-Security-Policy"]
    assert index.headers["X-Frame-Options"] == "DENY"
    script = page.call("GET", "/static/app.js")
    assert script.status == 200 and b"Bearer" in script.body
    assert page.call("GET", "/static/style.css").status == 200
    assert_error(page.call("GET", "/static/../memory.db"), 404)
    assert_error(page.call("GET", "/static/secret.txt"), 404)


def test_metrics_are_still_served_beside_the_page(page: Page) -> None:
    page.bus.publish(Transcript(text="hello", duration_s=1.0, seconds=0.2))
    for host in (f"127.0.0.1:{page.port}", "localhost", "[::1]:8765"):
        reply = page.call("GET", "/metrics", headers={"Host": host, "Authorization": None})
        assert reply.status == 200  # a scrape on this machine needs no token
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert scrape(reply.body.decode().splitlines())["secondself_turns_total"] == 1
    # Prometheus on another host names the device as it likes, and sends the token.
    remote = page.call("GET", "/metrics", headers={"Host": "prometheus.lan:8765"})
    assert remote.status == 200
    assert scrape(remote.body.decode().splitlines())["secondself_turns_total"] == 1
    assert page.call("POST", "/metrics", raw=b"").status == 405


def test_metrics_refuse_another_host_name_without_the_token_dns_rebinding(page: Page) -> None:
    page.bus.publish(Transcript(text="hello", duration_s=1.0, seconds=0.2))
    for headers in (
        {"Host": f"evil.example:{page.port}", "Authorization": None},
        {"Host": "prometheus.lan:8765", "Authorization": None},
        {"Host": "evil.example", "Authorization": f"Bearer {'A' * len(page.token)}"},
    ):
        reply = page.call("GET", "/metrics", headers=headers)
        assert_error(reply, 421, "wrong-host")
        assert b"secondself_turns_total" not in reply.body


# --- memories -----------------------------------------------------------------------------


def test_remember_then_list_newest_first_in_pages(page: Page) -> None:
    for text in ("My dog is called Biscuit", "The spare key is under the blue flower pot",
                 "My sister Anna lives in Lisbon"):  # fmt: skip
        page.remember(text)
    first = page.call("GET", "/api/memories?limit=2")
    assert texts(first) == [
        "My sister Anna lives in Lisbon",
        "The spare key is under the blue flower pot",
    ]
    assert first.json["next_offset"] == 2
    rest = page.call("GET", "/api/memories?limit=2&offset=2")
    assert texts(rest) == ["My dog is called Biscuit"] and rest.json["next_offset"] is None
    shown = first.json["memories"][0]
    assert shown["kind"] == "note" and shown["source"] == "web" and shown["persona"] == "personal"
    assert shown["visibility"] == "private" and shown["current"] is True


def test_search_is_the_stores_hybrid_search(page: Page) -> None:
    facts = ["My dog is called Biscuit", "The spare key is under the blue flower pot",
             "I am allergic to penicillin"]  # fmt: skip
    for text in facts:
        page.remember(text)
    reply = page.call("GET", "/api/memories?q=Which+medicine+must+I+avoid%3F&limit=3")
    found = reply.json["memories"]
    expected = page.store().search("Which medicine must I avoid?", SearchFilter("personal"), 3)
    assert [m["id"] for m in found] == [r.memory.id for r in expected]
    assert found[0]["text"] == "I am allergic to penicillin"
    assert found[0]["scores"]["similarity"] > 0.3


def test_kind_filter(page: Page) -> None:
    page.remember("A plain note about the garden")
    page.store().remember(
        "A photo of the garden", kind=Kind.IMAGE, media=MediaInput(tiny_jpeg(), "jpg")
    )
    assert texts(page.call("GET", "/api/memories?kind=image")) == ["A photo of the garden"]
    assert len(texts(page.call("GET", "/api/memories?kind=image,note"))) == 2


def test_forget_purges_every_copy_and_the_turns_that_quoted_it(page: Page) -> None:
    doomed = page.remember(f"The safe code is {MARKER} 4711")
    kept = page.remember("The bins go out on Tuesday")
    PersonaMemory(page.store(), "personal").remember_turn(
        "What is the safe code?", f"The safe code is {MARKER} 4711.", [doomed]
    )
    user_dir = page.home / "users" / "default"
    assert files_containing(user_dir, [MARKER.encode()])  # before: it is on disk
    reply = page.call("DELETE", f"/api/memories/{doomed}")
    assert reply.status == 200, reply.body
    assert doomed in reply.json["forgotten"] and len(reply.json["turns_removed"]) == 1
    assert files_containing(user_dir, [MARKER.encode()]) == []
    assert_error(page.call("GET", f"/api/memories/{doomed}"), 404, "memory-unknown-id")
    assert_error(page.call("DELETE", f"/api/memories/{doomed}"), 404, "memory-unknown-id")
    assert texts(page.call("GET", "/api/memories")) == ["The bins go out on Tuesday"]
    assert page.call("GET", f"/api/memories/{kept}").json["id"] == kept


def test_a_user_forgotten_by_the_cli_is_seen_at_once_and_what_is_saved_after_is_kept(
    page: Page,
) -> None:
    page.remember(f"The safe code is {MARKER} 4711")
    forget_user(page.household.folder("default"))  # `secondself forget --user-all`
    assert texts(page.call("GET", "/api/memories")) == []
    page.remember("The bins go out on Tuesday")  # into the database on disk, not the deleted one
    assert texts(page.call("GET", "/api/memories")) == ["The bins go out on Tuesday"]
    with MemoryStore.open(page.household.folder("default")) as restarted:
        assert [m.text for m in restarted.iterate()] == ["The bins go out on Tuesday"]
    assert files_containing(page.home, [MARKER.encode()]) == []


def test_share_and_unshare_between_personas(page: Page) -> None:
    page.household.create_persona(
        "default", Persona("work", None, "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    )
    secret = page.remember("The quarterly numbers are due Friday", persona="work")
    # To "personal", work's private memory does not exist.
    assert texts(page.call("GET", "/api/memories?persona=personal")) == []
    assert_error(page.call("GET", f"/api/memories/{secret}?persona=personal"), 404)
    refused = page.call(
        "POST", f"/api/memories/{secret}/visibility?persona=personal", {"visibility": "shared"}
    )
    assert_error(refused, 404)
    assert_error(page.call("DELETE", f"/api/memories/{secret}?persona=personal"), 404)
    assert page.store().get(secret).visibility == "private"
    shared = page.call(
        "POST", f"/api/memories/{secret}/visibility?persona=work", {"visibility": "shared"}
    )
    assert shared.status == 200 and shared.json["visibility"] == "shared"
    assert texts(page.call("GET", "/api/memories?persona=personal")) == [
        "The quarterly numbers are due Friday"
    ]
    back = page.call(
        "POST", f"/api/memories/{secret}/visibility?persona=work", {"visibility": "private"}
    )
    assert back.json["visibility"] == "private"
    assert texts(page.call("GET", "/api/memories?persona=personal")) == []
    assert_error(page.call("GET", "/api/memories?persona=nobody"), 404, "persona-unknown")


def test_personas_and_users_are_listed(page: Page) -> None:
    page.household.create_persona(
        "default", Persona("work", "alexa", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    )
    page.household.add_user("anna")
    personas = page.call("GET", "/api/personas").json["personas"]
    assert [(p["name"], p["wake_word"]) for p in personas] == [
        ("personal", "hey_jarvis"),
        ("work", "alexa"),
    ]
    assert page.call("GET", "/api/users").json == {
        "users": ["default", "anna"],
        "default": "default",
    }
    assert [p["name"] for p in page.call("GET", "/api/personas?user=anna").json["personas"]] == [
        "personal"
    ]


# --- media and users ----------------------------------------------------------------------


def test_snapshots_are_served_from_the_users_own_media_folder_only(page: Page) -> None:
    photo = tiny_jpeg(payload=b"garden photo")
    page.store().remember("A photo of the garden", kind=Kind.IMAGE, media=MediaInput(photo, "jpg"))
    (shown,) = page.call("GET", "/api/memories?kind=image").json["memories"]
    image = page.call("GET", shown["media_url"])
    assert image.status == 200 and image.body == photo
    assert image.headers["Content-Type"] == "image/jpeg"
    name = shown["media_url"].split("/")[-1].split("?")[0]
    page.household.add_user("anna")
    assert_error(page.call("GET", f"/api/media/{name}?user=anna"), 404, "media-unknown")
    for bad in (
        "/api/media/../../memory.db",
        "/api/media/..%2f..%2fmemory.db",
        f"/api/media/{name.upper()}",
        f"/api/media/{name[1:]}",
        f"/api/media/{name.split('.')[0]}.jpg%00.db",
    ):
        assert_error(page.call("GET", bad), 404)


def test_one_users_request_never_reaches_another_users_memories(page: Page) -> None:
    page.household.add_user("anna")
    for n in (1, 2):
        page.remember(f"Anna's note number {n}", user="anna")
    annas = page.remember("Anna's bike lock code is 1234", user="anna")
    mine = page.remember("My bike is in the shed")
    assert mine < annas  # one database per user: ids are counted per user
    assert "Anna's bike lock code is 1234" in texts(page.call("GET", "/api/memories?user=anna"))
    assert texts(page.call("GET", "/api/memories")) == ["My bike is in the shed"]
    assert texts(page.call("GET", "/api/memories?q=bike+lock+code")) == ["My bike is in the shed"]
    assert (
        page.call("GET", f"/api/memories/{mine}?user=anna").json["text"] == "Anna's note number 1"
    )
    assert_error(page.call("GET", f"/api/memories/{annas}?user=default"), 404)
    assert_error(page.call("DELETE", f"/api/memories/{annas}?user=default"), 404)
    assert page.store("anna").get(annas).text == "Anna's bike lock code is 1234"
    assert_error(page.call("GET", "/api/memories?user=bob"), 404, "user-unknown")
    assert_error(page.call("GET", "/api/memories?user=..%2Fanna"), 400, "bad-name")
    assert_error(page.call("POST", "/api/memories?user=bob", {"text": "x"}), 404, "user-unknown")
    assert not (page.home / "users" / "bob").exists()


def test_listing_a_user_with_nothing_stored_creates_no_database(page: Page) -> None:
    assert texts(page.call("GET", "/api/memories")) == []
    assert page.call("GET", "/api/conversations").json["turns"] == []
    assert not (page.home / "users" / "default" / "memory.db").exists()


# --- conversations and corrections --------------------------------------------------------


def test_conversations_show_the_turns_score_parts_and_sources(page: Page) -> None:
    dog = page.remember("My dog is called Biscuit")
    memory = PersonaMemory(page.store(), "personal")
    question, answer = "What is my dog called?", "Your dog is called Biscuit."
    sources = memory.recall(question, 5)
    memory.remember_turn(question, answer, [s.memory_id for s in sources])
    (turn,) = page.call("GET", "/api/conversations").json["turns"]
    assert (turn["question"], turn["answer"]) == (question, answer)
    assert [s["id"] for s in turn["sources"]] == [dog]
    # The score the turn itself computed, from the same sources and embedder.
    expected = personal_score(answer, sources, page.stores.embedder)
    assert turn["score"] == expected.score and turn["score"] > 50
    assert turn["score_parts"]["supporting_ids"] == [dog]
    assert turn["score_parts"]["grounding"] == pytest.approx(expected.grounding, abs=1e-3)
    assert turn["below_threshold"] is False


def test_conversations_show_only_the_sources_the_persona_may_see_now(page: Page) -> None:
    page.household.create_persona(
        "default", Persona("work", None, "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    )
    dog = page.remember(f"My dog is called Biscuit {MARKER}")  # personal's, then shared
    page.remember("The quarterly numbers are due Friday", persona="work")

    def share(visibility: str) -> None:
        reply = page.call(
            "POST", f"/api/memories/{dog}/visibility?persona=personal", {"visibility": visibility}
        )
        assert reply.status == 200, reply.body

    def works_turn() -> dict[str, Any]:
        reply = page.call("GET", "/api/conversations?persona=work")
        assert reply.status == 200, reply.body
        (turn,) = reply.json["turns"]
        assert (MARKER in reply.body.decode()) == bool(turn["sources"])
        return dict(turn)

    share("shared")
    work = PersonaMemory(page.store(), "work")
    question, answer = "What is my dog called?", "Your dog is called Biscuit."
    work.remember_turn(question, answer, [s.memory_id for s in work.recall(question, 1)])
    seen = works_turn()
    assert [s["id"] for s in seen["sources"]] == [dog] and seen["score_parts"]["supporting_ids"]
    share("private")  # to work, the memory is gone again: not its text, not its id
    hidden = works_turn()
    assert hidden["sources"] == [] and hidden["score_parts"]["supporting_ids"] == []
    assert hidden["score"] < seen["score"] and hidden["answer"] == answer
    share("shared")  # and back: read at every request, not kept from an earlier one
    assert works_turn() == seen
    personal = page.call("GET", "/api/conversations?persona=personal").json["turns"]
    assert personal == []  # work's turn is work's own


def test_correct_the_last_answer_as_the_cli_does(page: Page) -> None:
    assert_error(page.call("POST", "/api/correct", {"text": "Rex"}), 400, "nothing-to-correct")
    dog = page.remember("My dog is called Biscuit")
    PersonaMemory(page.store(), "personal").remember_turn(
        "What is my dog called?", "Your dog is called Biscuit.", [dog]
    )
    reply = page.call("POST", "/api/correct", {"text": "No, it's Rex"})
    assert reply.status == 201, reply.body
    assert reply.json["corrects"] == dog
    fixed = page.store().get(reply.json["id"])
    assert fixed.kind is Kind.CORRECTION and fixed.corrects == dog and fixed.source == "web"
    assert "Rex" in fixed.text
    assert not page.store().get(dog).current  # the correction replaced it
    top = page.store().search("What is my dog called?", SearchFilter("personal"), 1)
    assert top[0].memory.id == fixed.id
    assert_error(page.call("POST", "/api/correct", {"text": "  "}), 400, "empty-correction")


def test_a_correction_never_copies_or_retires_another_personas_private_memory(page: Page) -> None:
    store = page.store()
    pin = store.remember("my bank pin is 4321", persona="work", visibility=Visibility.SHARED)
    PersonaMemory(store, "personal").remember_turn(
        "What is my bank pin?", "Your bank pin is 4321.", [pin.id]
    )
    store.set_visibility(pin.id, Visibility.PRIVATE)  # work takes it back after the answer
    assert_error(page.call("POST", "/api/correct", {"text": "1234"}), 400, "nothing-to-correct")
    assert store.get(pin.id).current
    assert store.recent(SearchFilter("personal", kinds=(Kind.CORRECTION,))) == []
    # Another persona's shared turn is not this persona's last answer either.
    dog = page.remember("My dog is called Biscuit")
    store.remember(
        "Q: What is my dog called?\nA: Your dog is called Biscuit.",
        kind=Kind.CONVERSATION_TURN, persona="work", visibility=Visibility.SHARED,
        source=Origin.VOICE, sources=[dog],
    )  # fmt: skip
    assert_error(page.call("POST", "/api/correct", {"text": "Rex"}), 400, "nothing-to-correct")
    assert store.get(dog).current


# --- live events ----------------------------------------------------------------------------


def test_live_events_stream_with_what_was_said_redacted(page: Page) -> None:
    secret = "my bank pin is 9876"
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    conn.request(
        "GET",
        "/api/events",
        headers={"Host": f"127.0.0.1:{page.port}", "Authorization": f"Bearer {page.token}"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.readline().startswith(b"retry:")  # connected: subscribed to the bus
    page.bus.publish(Transcript(text=secret, duration_s=1.5, seconds=0.25))
    page.bus.publish(
        AnswerDone(text=secret, backend="local", first_token_s=0.1, seconds=0.9, tokens=7)
    )
    events = []
    while len(events) < 2:
        line = response.readline()
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
        assert secret.encode() not in line
    assert [e["event"] for e in events] == ["Transcript", "AnswerDone"]
    assert events[0]["seconds"] == 0.25 and events[0]["text"] == f"<{len(secret)} chars>"
    assert events[1]["first_token_s"] == 0.1
    # Closing the server ends the stream (the daemon stops without waiting for the page).
    assert response.readline() == b"\n"  # the end of the last event
    page.runner.loop.call_soon_threadsafe(page.server.close)
    assert response.read() == b""
    conn.close()


# --- bad input changes nothing ---------------------------------------------------------------


def test_bad_input_is_a_one_line_error_and_changes_nothing(page: Page) -> None:
    page.remember("The only memory")
    before = page.store().count()
    assert_error(page.call("POST", "/api/memories", raw=b'{"text": "half'), 400, "bad-json")
    assert_error(page.call("POST", "/api/memories", raw=b'["a list"]'), 400, "bad-json")
    assert_error(
        page.call("POST", "/api/memories", {"words": "no text field"}), 400, "bad-parameter"
    )
    assert_error(page.call("POST", "/api/memories", {"text": 42}), 400, "bad-parameter")
    assert_error(page.call("POST", "/api/memories", {"text": "   "}), 400, "memory-empty")
    assert_error(page.call("POST", "/api/memories", {"text": "x", "shared": "yes"}), 400)
    form = page.call(
        "POST",
        "/api/memories",
        raw=b"text=hi",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(form, 415, "not-json")
    assert_error(page.call("GET", "/api/memories?limit=0"), 400)
    assert_error(page.call("GET", "/api/memories?limit=abc"), 400)
    assert_error(page.call("GET", "/api/memories?kind=poem"), 400)
    assert_error(page.call("GET", "/api/memories?limit=1&limit=2"), 400, "bad-query")
    assert_error(page.call("GET", "/api/memories/99999"), 404, "memory-unknown-id")
    assert_error(page.call("POST", "/api/memories/1/visibility", {"visibility": "public"}), 400)
    assert_error(page.call("GET", "/api/nothing-here"), 404, "not-found")
    assert_error(page.call("PUT", "/api/memories", {"text": "x"}), 405)
    assert page.store().count() == before
    assert [m.visibility for m in page.store().recent(SearchFilter("personal"))] == ["private"]


def test_hostile_bodies_are_a_400_never_a_traceback(
    page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # under the body limit, past Python's recursion
    assert_error(page.call("POST", "/api/memories", raw=deep), 400, "bad-json")
    nested = b'{"text": "x", "extra": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert_error(page.call("POST", "/api/memories", raw=nested), 400, "bad-json")
    lone = b'{"text": "my pin is \\ud800"}'  # a lone surrogate: no UTF-8 can hold it
    assert_error(page.call("POST", "/api/memories", raw=lone), 400, "text-not-unicode")
    assert not (page.home / "users" / "default" / "memory.db").exists()
    dog = page.remember("My dog is called Biscuit")
    PersonaMemory(page.store(), "personal").remember_turn(
        "What is my dog called?", "Your dog is called Biscuit.", [dog]
    )
    before = page.store().count()
    assert_error(page.call("POST", "/api/correct", raw=lone), 400, "text-not-unicode")
    assert page.store().count() == before and page.store().get(dog).current
    brackets = '{"text": "' + "[{" * 40 + ' and a quote \\" inside"}'
    assert page.call("POST", "/api/memories", raw=brackets.encode()).status == 201  # only text
    assert page.store().count() == before + 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_correction_is_saved_word_for_word_never_as_a_regex_template(
    page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    for fact, question, answer, said in (
        (
            "My dog is called Biscuit",
            "What is my dog called?",
            "Your dog is called Biscuit.",
            "\\9",
        ),
        ("My cat is called Tom", "What is my cat called?", "Your cat is called Tom.", "\\g<0>"),
    ):
        wrong = page.remember(fact)
        PersonaMemory(page.store(), "personal").remember_turn(question, answer, [wrong])
        reply = page.call("POST", "/api/correct", {"text": said})
        assert reply.status == 201, reply.body
        assert reply.json["corrects"] == wrong
        assert reply.json["text"] == fact.rsplit(" ", 1)[0] + f" {said}"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_body_over_the_limit_is_refused_before_it_is_read(page: Page) -> None:
    huge = json.dumps({"text": "a" * 300_000}).encode()
    assert_error(page.call("POST", "/api/memories", raw=huge), 413, "too-large")
    assert not (page.home / "users" / "default" / "memory.db").exists()
    page.remember("still working")


def test_garbage_gets_a_400_and_the_server_carries_on(page: Page) -> None:
    with socket.create_connection(("127.0.0.1", page.port), timeout=5) as conn:
        conn.sendall(b"\x00\x01garbage\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 400")
    assert page.call("GET", "/api/users").status == 200


def test_closing_waits_for_a_request_in_flight_but_not_for_ever(page: Page) -> None:
    """A stop has 5 s: a slow page request must not hold the daemon's loop past them."""
    api = WebApi(page.stores, page.bus, "default")
    started, finish = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        finish.wait(30)
        return "done"

    request = asyncio.run_coroutine_threadsafe(api.run(slow), page.runner.loop)
    assert started.wait(10)
    assert api.close(timeout=0.05) is False  # still running: its store must stay open
    finish.set()
    assert request.result(10) == "done"  # the request in flight was not cut off
    assert api.close(timeout=5) is True


# --- the guards ---------------------------------------------------------------------------


def test_another_host_name_is_refused_dns_rebinding(page: Page) -> None:
    for path in ("/", "/api/memories", "/static/app.js"):
        assert_error(
            page.call("GET", path, headers={"Host": f"evil.example:{page.port}"}), 421, "wrong-host"
        )
    assert_error(
        page.call("POST", "/api/memories", {"text": "x"}, headers={"Host": "evil.example"}), 421
    )
    with socket.create_connection(("127.0.0.1", page.port), timeout=5) as conn:
        conn.sendall(b"GET /api/users HTTP/1.0\r\n\r\n")  # HTTP/1.0 without a Host
        assert conn.recv(200).startswith(b"HTTP/1.1 400")
    for host in (f"localhost:{page.port}", f"127.0.0.1:{page.port}", "[::1]", "localhost"):
        assert page.call("GET", "/api/users", headers={"Host": host}).status == 200
    assert not (page.home / "users" / "default" / "memory.db").exists()


def test_changes_need_the_same_origin(page: Page) -> None:
    no_header = page.call("POST", "/api/memories", {"text": "x"}, headers={"X-Secondself": None})
    assert_error(no_header, 403, "no-write-header")
    other = page.call(
        "POST", "/api/memories", {"text": "x"}, headers={"Origin": "http://evil.example"}
    )
    assert_error(other, 403, "cross-origin")
    cross = page.call("GET", "/api/memories", headers={"Sec-Fetch-Site": "cross-site"})
    assert_error(cross, 403, "cross-site")
    assert not (page.home / "users" / "default" / "memory.db").exists()
    mine = page.call(
        "POST",
        "/api/memories",
        {"text": "from the page"},
        headers={"Origin": page.origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert mine.status == 201
    assert_error(
        page.call("DELETE", f"/api/memories/{mine.json['id']}", headers={"Origin": "null"}), 403
    )
    assert_error(page.call("OPTIONS", "/api/memories"), 405)
    assert page.store().get(mine.json["id"]).text == "from the page"


# --- the access token -----------------------------------------------------------------------


def test_without_the_token_nothing_but_metrics_and_the_public_code(page: Page) -> None:
    mine = page.remember(f"My locker code is {MARKER}")
    anon: dict[str, str | None] = {"Authorization": None}
    for path in ("/api/memories", f"/api/memories/{mine}", "/api/users", "/api/conversations",
                 "/api/events", f"/api/memories?q={MARKER}"):  # fmt: skip
        reply = page.call("GET", path, headers=anon)
        assert_error(reply, 401, "unauthorized")
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert MARKER.encode() not in reply.body
    assert_error(page.call("POST", "/api/memories", {"text": "x"}, headers=anon), 401)
    assert_error(page.call("DELETE", f"/api/memories/{mine}", headers=anon), 401)
    # A wrong token, in each place one can go, is no better than none.
    wrong = "A" * len(page.token)
    for headers in (
        {"Authorization": f"Bearer {wrong}"},
        {"Authorization": f"Bearer {page.token[:-1]}"},
        {"Authorization": f"Basic {page.token}"},
        # A cookie is no way in, not even the one older versions set (a browser sends a
        # 127.0.0.1 cookie to every port there: any local web server would get it).
        {"Authorization": None, "Cookie": f"secondself_0123abcd={page.token}"},
        {"Authorization": None, "Cookie": f"secondself={page.token}"},
    ):
        assert_error(page.call("GET", "/api/memories", headers=headers), 401, "unauthorized")
    assert page.store().get(mine).text == f"My locker code is {MARKER}"  # nothing changed
    # The page, its script and style are public code, and hold nothing of the user's.
    index = page.call("GET", "/", headers=anon)
    assert index.status == 200 and b'<script src="/static/app.js"' in index.body
    assert MARKER.encode() not in index.body and "Set-Cookie" not in index.headers
    assert page.call("GET", "/static/app.js", headers=anon).status == 200
    assert page.call("GET", "/static/style.css", headers=anon).status == 200
    assert page.call("GET", "/metrics", headers=anon).status == 200
    # A script with the token as a bearer header gets in.
    assert texts(page.call("GET", "/api/memories")) == [f"My locker code is {MARKER}"]


def test_the_token_an_older_version_gave_away_in_a_cookie_is_replaced(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old = "A1" * 22
    (home / access.OLD_TOKEN_FILE).write_text(f"{old}\n")
    with pytest.raises(UserError, match="restart the daemon"):
        access.read(home)  # `secondself web` before the daemon's first start on this version
    new = access.load_or_create(home)
    assert new != old and access.read(home) == new
    assert sorted(p.name for p in home.iterdir()) == [access.TOKEN_FILE]  # the old one is gone
    assert not access.Access(new).matches(old)


def test_the_token_file_is_made_once_private_and_atomically(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(UserError, match="secondself run"):
        access.read(home)  # `secondself web` never makes it: the daemon's user must own it
    assert not home.exists()
    tokens: list[str] = []
    starts = [
        threading.Thread(target=lambda: tokens.append(access.load_or_create(home)))
        for _ in range(8)
    ]
    for start in starts:
        start.start()
    for start in starts:
        start.join()
    assert len(set(tokens)) == 1  # starts at once agree on one token
    (token,) = set(tokens)
    path = home / access.TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"{token}\n" and len(token) >= 43
    assert sorted(p.name for p in home.iterdir()) == [access.TOKEN_FILE]  # no temporary left
    assert access.load_or_create(home) == token == access.read(home)  # kept across starts
    path.chmod(0o644)  # someone loosened it: the next start takes the others' access away
    assert access.load_or_create(home) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short\n")  # not a token: a fresh one replaces it
    with pytest.raises(UserError, match="not hold a valid token"):
        access.read(home)
    fresh = access.load_or_create(home)
    assert fresh != token and access.read(home) == fresh
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if os.geteuid() != 0:  # root reads anything
        path.chmod(0)
        with pytest.raises(UserError, match="sudo -u secondself"):
            access.read(home)


def test_secondself_web_prints_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SECONDSELF_WEB_PORT", "9123")
    assert main(["--home", str(home), "web"]) == 2
    assert "secondself run" in capsys.readouterr().err
    assert not home.exists()
    token = access.load_or_create(home)
    assert main(["--home", str(home), "web"]) == 0
    assert capsys.readouterr().out == f"http://127.0.0.1:9123/#token={token}\n"
    monkeypatch.setenv("SECONDSELF_WEB_HOST", "::")
    assert main(["--home", str(home), "web"]) == 2  # beyond loopback: TLS, or a proxy's
    assert "web.tls = true" in capsys.readouterr().err
    monkeypatch.setenv("SECONDSELF_WEB_BEHIND_PROXY", "true")
    assert main(["--home", str(home), "web"]) == 0
    printed = capsys.readouterr()
    assert printed.out == f"http://[::1]:9123/#token={token}\n"
    assert "another machine" in printed.err
    monkeypatch.setenv("SECONDSELF_WEB_TLS", "true")
    assert main(["--home", str(home), "web"]) == 0
    assert capsys.readouterr().out == f"https://[::1]:9123/#token={token}\n"
    certificate = tls.load_or_create(home)  # as the daemon's first start makes it
    assert main(["--home", str(home), "web"]) == 0
    assert certificate.fingerprint in capsys.readouterr().err  # the browser's warning, explained
    assert access.page_url("0.0.0.0", 8765) == "http://127.0.0.1:8765/"  # what the log says


# --- what the page costs the voice ----------------------------------------------------------


def test_the_page_answers_while_the_default_thread_pool_is_busy(page: Page) -> None:
    """The voice's stages (STT, TTS, playback, generation) hold the loop's default thread
    pool: the page has its own threads and neither waits for them nor takes theirs."""
    page.remember("My dog is called Biscuit")
    release = threading.Event()

    async def occupy() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1, thread_name_prefix="voice"))
        loop.run_in_executor(None, release.wait)  # the voice's one thread, busy

    page.runner.run(occupy())
    try:
        assert texts(page.call("GET", "/api/memories?q=dog")) == ["My dog is called Biscuit"]
        assert page.call("GET", "/api/conversations").status == 200
        assert page.call("GET", "/").status == 200
    finally:
        release.set()
