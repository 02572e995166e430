"""The web API under generated requests, through the real server on a loopback port: every
route (but /api/events, a stream that never ends) with any method, query parameters and
body. The routes are served by FastAPI; the schema-driven fuzz (schemathesis over
/openapi.json) is the next step.

Whatever the request: never a 5xx; an error is one line of JSON naming what was wrong; a
reply is standard JSON (no NaN, no Infinity); and a refused request changes no file.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from secondself.core.bus import Bus
from secondself.household.personas import Catalog, Defaults
from secondself.household.users import Household
from secondself.web import access
from secondself.web.server import WebServer, serve_web
from secondself.web.stores import UserStores
from tests.fuzz import strategies as fz
from tests.fuzz.checks import standard_json
from tests.fuzz.home import files, seed
from tests.memory.test_support import HashEmbedder
from tests.support.loop_thread import LoopThread

pytestmark = pytest.mark.fuzz

DEFAULTS = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")
CATALOG = Catalog(frozenset({"hey_jarvis"}), frozenset({"en_US-joe-medium"}), frozenset())


@dataclass
class Page:
    port: int
    home: Path
    token: str

    def call(self, method: str, target: str, body: bytes | None) -> tuple[int, bytes]:
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "Authorization": f"Bearer {self.token}",
            "X-Secondself": "1",  # the page's own header: the cross-site checks are not fuzzed
            "Content-Type": "application/json",
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, target, body=body, headers=headers)
            reply = conn.getresponse()
            return reply.status, reply.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """The page over a seeded home, the fake embedder in place of the model."""
    home = tmp_path_factory.mktemp("web") / "home"
    seed(home)
    shutil.copytree(home / "users" / "default", home / "users" / "bob")
    stores = UserStores(Household(home, DEFAULTS, CATALOG), HashEmbedder(), Bus())
    token = access.load_or_create(home)
    runner = LoopThread()
    server: WebServer = runner.run(
        serve_web(lambda: "", "127.0.0.1", 0, stores, Bus(), "default", token)
    )
    page = Page(server.port, home, token)
    for user in ("default", "bob"):  # open, as a running daemon's are: the -wal files made
        assert page.call("GET", f"/api/memories?user={user}", None)[0] == 200
    yield page
    runner.loop.call_soon_threadsafe(server.close)
    runner.run(server.wait_closed())
    runner.close()


def encoded(text: str) -> str:
    return quote(text.encode(errors="surrogatepass"), safe="")


IDS = fz.mostly(st.integers(1, 8).map(str), fz.text().map(encoded))
MEDIA = st.tuples(st.text("0123456789abcdef", min_size=64, max_size=64), fz.PLAIN).map(
    lambda t: f"/api/media/{t[0]}.{encoded(t[1])}"
)
# Each route with the method it takes, mostly; else any method on any of them.
ROUTES = st.one_of(
    st.tuples(
        st.just("GET"), st.sampled_from(["/api/users", "/api/personas", "/api/conversations"])
    ),
    st.tuples(st.sampled_from(["GET", "POST"]), st.just("/api/memories")),
    st.tuples(st.sampled_from(["GET", "DELETE"]), IDS.map(lambda i: f"/api/memories/{i}")),
    st.tuples(st.just("POST"), IDS.map(lambda i: f"/api/memories/{i}/visibility")),
    st.tuples(st.just("POST"), st.just("/api/correct")),
    st.tuples(st.just("GET"), MEDIA | st.sampled_from(["/", "/static/app.js", "/metrics"])),
)
METHODS = st.sampled_from(["GET", "POST", "DELETE", "HEAD", "PUT"])
REQUESTS = fz.mostly(
    ROUTES,
    st.tuples(METHODS, ROUTES.map(lambda r: r[1]) | fz.text().map(lambda p: "/" + encoded(p))),
)
NUMBER = fz.mostly(st.integers(0, 120).map(str), fz.text() | fz.numbers().map(str))
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "user": fz.mostly(st.sampled_from(["default", "bob"]), fz.name()),
        "persona": fz.mostly(st.just("personal"), fz.name()),
        "limit": NUMBER,
        "offset": NUMBER,
        "kind": fz.mostly(st.sampled_from(["note", "image", "note,image"]), fz.text()),
        "q": fz.mostly(fz.WORDS, fz.text()),
        "all": fz.mostly(st.sampled_from(["0", "1"]), fz.text()),
        "other": fz.text(),
    },
)
# A body as the page sends one, mostly; else any JSON, any bytes, or one of the kinds that
# once broke a server: nested 100,000 deep, a lone surrogate, NaN, over the size limit.
PAGE_BODIES = st.fixed_dictionaries(
    {"text": fz.mostly(fz.WORDS, fz.text())},
    optional={
        "shared": fz.mostly(st.booleans(), fz.json_values()),
        "visibility": fz.mostly(st.sampled_from(["shared", "private"]), fz.json_values()),
    },
)
BODIES = fz.mostly(
    PAGE_BODIES.map(lambda b: json.dumps(b).encode()),
    st.one_of(
        st.none(),
        st.dictionaries(fz.text(), fz.json_values(), max_size=3).map(
            lambda b: json.dumps(b).encode()
        ),
        fz.json_values().map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=40),
        st.sampled_from([b"[" * 100_000, b'{"text": "\\ud800"}', b'{"text": NaN}', b"x" * 300_000]),
    ),
)
ANY_ID = re.compile(r"(?<=/api/me)(mories|dia)/[^/]+")  # for the statistics


@settings(max_examples=3 * settings().max_examples)  # quick ones: one request each
@given(request=REQUESTS, query=QUERY, body=BODIES)
def test_any_request_is_answered_without_a_5xx_and_a_refusal_changes_nothing(
    page: Page, request: tuple[str, str], query: dict[str, str], body: bytes | None
) -> None:
    method, route = request
    target = route + ("?" + "&".join(f"{encoded(k)}={encoded(v)}" for k, v in query.items()))
    before = files(page.home)
    status, reply = page.call(method, target, body)
    event(f"{method} {ANY_ID.sub(lambda m: m[1] + '/*', route)}: {status}")
    assert status < 500, (status, reply)
    if status >= 400:
        assert files(page.home) == before, "a refused request changed the data home"
    if route.startswith("/api/") and method != "HEAD":  # the API's: JSON (/metrics is text)
        answer = standard_json(reply)
        if status >= 400:
            assert b"\n" not in reply and isinstance(answer["error"], str) and answer["error"]
