"""Scoped tokens on the real page (a loopback port, a real MemoryStore): a token is one user
seen as one persona, within its scope; no, wrong, expired and revoked tokens are refused,
another persona's and another user's data is out of reach; tokens are kept hashed. Beyond
loopback the page needs TLS or a proxy: the certificate, its fingerprint, HTTPS."""

from __future__ import annotations

import hashlib
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.core.config import load_config
from secondself.core.errors import ConfigError, UserError
from secondself.household.personas import Persona
from secondself.memory.model import Kind, MediaInput, SearchFilter, Visibility
from secondself.web import guard, tls
from secondself.web.errors import HttpError
from secondself.web.tokens import TOKENS_FILE, Scope, TokenBook, parse_duration
from tests.memory.test_support import HashEmbedder, tiny_jpeg
from tests.support.served_page import Reply, ServedPage, serve_page

pytestmark = pytest.mark.unit


@pytest.fixture
def page(tmp_path: Path) -> Iterator[ServedPage]:
    served = serve_page(tmp_path / "home", HashEmbedder())
    served.household.create_persona(
        "default", Persona("work", None, "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    )
    served.household.add_user("anna")
    yield served
    served.close()


def remember(page: ServedPage, text: str, persona: str, user: str = "default") -> int:
    store = page.stores.get(user)
    return store.remember(text, persona=persona, visibility=Visibility.PRIVATE).id


def refused(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    assert b"\n" not in reply.body and reply.json["code"] == code, reply.json


def texts(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [m["text"] for m in reply.json["memories"]]


# --- who a token is -------------------------------------------------------------------------


def test_a_scoped_token_is_its_user_seen_as_its_persona(page: ServedPage) -> None:
    remember(page, "The work laptop password hint is blue", "work")
    remember(page, "My dog is called Biscuit", "personal")
    remember(page, "Anna's bike is red", "personal", user="anna")
    token, _ = page.book.create("default", "work", Scope.READ)
    assert texts(page.call("GET", "/api/memories", token)) == [
        "The work laptop password hint is blue"
    ]
    # Naming its own user and persona is fine; naming another is a 403, never their data.
    assert texts(page.call("GET", "/api/memories?user=default&persona=work", token))
    refused(page.call("GET", "/api/memories?persona=personal", token), 403, "token-scope")
    refused(page.call("GET", "/api/memories?user=anna", token), 403, "token-scope")
    refused(page.call("GET", "/api/conversations?persona=personal", token), 403, "token-scope")
    assert page.call("GET", "/api/users", token).json == {
        "users": ["default"],
        "default": "default",
    }
    personas = page.call("GET", "/api/personas", token).json["personas"]
    assert [p["name"] for p in personas] == ["work"]
    # The owner's token still sees everyone.
    owner = page.call("GET", "/api/users", page.owner_token).json
    assert owner["users"] == ["default", "anna"]
    assert texts(page.call("GET", "/api/memories?user=anna", page.owner_token)) == [
        "Anna's bike is red"
    ]


def test_a_token_of_another_user_reaches_only_that_users_memories(page: ServedPage) -> None:
    remember(page, "My dog is called Biscuit", "personal")
    remember(page, "Anna's bike is red", "personal", user="anna")
    anna, _ = page.book.create("anna", "personal", Scope.REMEMBER)
    assert texts(page.call("GET", "/api/memories", anna)) == ["Anna's bike is red"]
    refused(page.call("GET", "/api/memories?user=default", anna), 403, "token-scope")
    dog = page.stores.get("default").recent(SearchFilter("personal"))[0].id
    refused(page.call("DELETE", f"/api/memories/{dog}?user=default", anna), 403, "token-scope")
    assert page.stores.get("default").get(dog).text == "My dog is called Biscuit"


def test_each_scope_allows_what_it_says_and_a_refusal_changes_nothing(page: ServedPage) -> None:
    kept = remember(page, "The bins go out on Tuesday", "personal")
    reader, _ = page.book.create("default", "personal", Scope.READ)
    writer, _ = page.book.create("default", "personal", Scope.REMEMBER)
    admin, _ = page.book.create("default", "personal", Scope.ADMIN)
    for method, path, body in (
        ("POST", "/api/memories", {"text": "A reader's note"}),
        ("DELETE", f"/api/memories/{kept}", None),
        ("POST", f"/api/memories/{kept}/visibility", {"visibility": "shared"}),
        ("POST", "/api/correct", {"text": "Wednesday"}),
    ):
        refused(page.call(method, path, reader, body), 403, "token-scope")
    assert texts(page.call("GET", "/api/memories", reader)) == ["The bins go out on Tuesday"]
    assert page.stores.get("default").get(kept).visibility == "private"
    assert page.call("POST", "/api/memories", writer, {"text": "A writer's note"}).status == 201
    assert page.call("DELETE", f"/api/memories/{kept}", writer).status == 200
    # The device's live events (every persona's timings) are the admin's.
    refused(page.call("GET", "/api/events", writer), 403, "token-scope")
    assert page.call("GET", "/api/users", admin).status == 200


def test_a_scoped_token_gets_no_snapshot_its_persona_may_not_see(page: ServedPage) -> None:
    store = page.stores.get("default")
    photo = store.remember(
        "A photo of the work whiteboard", persona="work", kind=Kind.IMAGE,
        media=MediaInput(tiny_jpeg(), "jpg"),
    )  # fmt: skip
    assert photo.media is not None
    path = f"/api/media/{photo.media.rsplit('/', 1)[-1]}"
    work, _ = page.book.create("default", "work", Scope.READ)
    personal, _ = page.book.create("default", "personal", Scope.READ)
    assert page.call("GET", path, work).body == tiny_jpeg()
    assert page.call("GET", path, page.owner_token).status == 200
    refused(page.call("GET", path, personal), 404, "media-unknown")


# --- tokens refused ---------------------------------------------------------------------------


def test_no_a_wrong_an_expired_and_a_revoked_token_are_refused(page: ServedPage) -> None:
    remember(page, "My dog is called Biscuit", "personal")
    token, record = page.book.create("default", "personal", Scope.READ, expires_in_s=3600)
    assert page.call("GET", "/api/memories", token).status == 200
    for wrong, code in (
        (None, "unauthorized"),
        ("not-a-token", "unauthorized"),
        (token[:-4] + "AAAA", "unauthorized"),  # its id, another secret
        (f"ss_{'0' * 8}_{token[12:]}", "unauthorized"),  # no such id
    ):
        reply = page.call("GET", "/api/memories", wrong)
        refused(reply, 401, code)
        assert reply.headers["WWW-Authenticate"] == 'Bearer realm="secondself"'
        assert b"Biscuit" not in reply.body
    page.clock.now += 3601
    refused(page.call("GET", "/api/memories", token), 401, "token-expired")
    # Revoked by another process (the CLI) while the page runs: refused at once.
    fresh, _ = page.book.create("default", "personal", Scope.READ, name="phone")
    assert page.call("GET", "/api/memories", fresh).status == 200
    cli = TokenBook.open(page.home)
    try:
        cli.revoke("phone")
    finally:
        cli.close()
    refused(page.call("GET", "/api/memories", fresh), 401, "token-revoked")
    assert record.state(page.clock.now) == "expired"


def test_a_token_used_is_marked_and_kept_only_as_its_digest(page: ServedPage) -> None:
    token, record = page.book.create("default", "personal", Scope.READ, name="kitchen")
    assert record.last_used is None
    page.call("GET", "/api/users", token)
    (seen,) = page.book.all()
    assert seen.last_used == page.clock.now and seen.state(page.clock.now) == "active"
    path = page.home / TOKENS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = b"".join(p.read_bytes() for p in page.home.glob(f"{TOKENS_FILE}*"))
    secret = token.rsplit("_", 1)[1]
    assert secret.encode() not in stored and token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


def test_names_scopes_and_expiries_are_checked_before_anything_is_kept(tmp_path: Path) -> None:
    book = TokenBook.open(tmp_path)
    try:
        book.create("default", "personal", Scope.ASK, name="ha")
        with pytest.raises(UserError, match="exists"):
            book.create("default", "personal", Scope.READ, name="ha")
        with pytest.raises(UserError, match="invalid token name"):
            book.create("default", "personal", Scope.READ, name="Home Assistant")
        assert [r.name for r in book.all()] == ["ha"]
        book.revoke("ha")
        book.create("default", "personal", Scope.READ, name="ha")  # the name is free again
        with pytest.raises(UserError, match="no token"):
            book.revoke("nothing")
    finally:
        book.close()
    assert parse_duration("30d") == 30 * 86400 and parse_duration("12h") == 43200
    for bad in ("30", "0d", "-1d", "1y", "99999w", "soon"):
        with pytest.raises(UserError, match="--expires"):
            parse_duration(bad)
    assert Scope.ADMIN.includes(Scope.READ) and not Scope.ASK.includes(Scope.REMEMBER)


# --- beyond loopback: TLS ---------------------------------------------------------------------


def test_serving_beyond_loopback_needs_tls_or_a_proxy(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.168.1.5", "pi.local", ""):
        with pytest.raises(ConfigError, match=r"web\.tls = true"):
            load_config(environ={"SECONDSELF_WEB_HOST": host}, system_files=[])
        tls_on = {"SECONDSELF_WEB_HOST": host, "SECONDSELF_WEB_TLS": "true"}
        assert load_config(environ=tls_on, system_files=[]).web.tls
        proxied = {"SECONDSELF_WEB_HOST": host, "SECONDSELF_WEB_BEHIND_PROXY": "1"}
        assert load_config(environ=proxied, system_files=[]).web.behind_proxy
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert load_config(environ={"SECONDSELF_WEB_HOST": host}, system_files=[]).web.host == host


def test_the_page_over_tls_with_its_own_certificate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    certificate = tls.load_or_create(home, "192.168.1.5")
    assert tls.load_or_create(home) == certificate  # made once, then kept
    assert stat.S_IMODE(certificate.key.stat().st_mode) == 0o600
    page = serve_page(home, HashEmbedder(), certificate=certificate)
    try:
        token, _ = page.book.create("default", "personal", Scope.READ)
        # A client trusting only this certificate (as a pinning client does) gets in ...
        assert page.call("GET", "/api/users", token).json["default"] == "default"
        # ... and the certificate served is the one whose fingerprint the CLI prints.
        served = ssl.get_server_certificate(("127.0.0.1", page.port))
        assert tls.fingerprint(served.encode()) == certificate.fingerprint
        assert len(certificate.fingerprint.split(":")) == 32
        # The page's own origin is now https: a change from it is taken, from http refused.
        here = f"127.0.0.1:{page.port}"
        note = {"text": "The spare key is under the blue pot"}
        taken = page.call(
            "POST", "/api/memories", page.owner_token, note, {"Origin": f"https://{here}"}
        )
        assert taken.status == 201, taken.body
        refused(page.call("POST", "/api/memories", page.owner_token, note, {"Origin": f"http://{here}"}),
                403, "cross-origin")  # fmt: skip
        # A client trusting the usual authorities does not: no authority signed it.
        page.tls = ssl.create_default_context()
        with pytest.raises(ssl.SSLCertVerificationError):
            page.call("GET", "/api/users", token)
    finally:
        page.close()
    names = tls.machine_names("192.168.1.5")
    assert {"localhost", "127.0.0.1", "::1", "192.168.1.5"} <= set(names)


def test_behind_a_tls_proxy_the_pages_origin_is_https() -> None:
    change = {"x-secondself": "1", "host": "self.example", "origin": "https://self.example"}
    guard.check_write("POST", change, ("http", "https"))  # behind_proxy: the browser saw https
    with pytest.raises(HttpError) as refused_here:
        guard.check_write("POST", change, ("http",))  # plain HTTP here and no proxy: not ours
    assert refused_here.value.code == "cross-origin"
    with pytest.raises(HttpError):
        guard.check_write("POST", {**change, "origin": "https://evil.example"}, ("http", "https"))


def test_a_scoped_token_does_not_reach_the_mcp_endpoint(page: ServedPage) -> None:
    """MCP's tools act as the owner for now: only the install's token reaches them."""
    token, _ = page.book.create("default", "work", Scope.ADMIN)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    reply = page.call("POST", "/mcp", body, headers={"Authorization": f"Bearer {token}"})
    refused(reply, 403, "mcp-owner-only")
    wrong = {"Authorization": "Bearer not-a-token-of-ours"}
    assert page.call("POST", "/mcp", body, headers=wrong).status == 401
