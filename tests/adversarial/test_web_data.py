"""What the token's holder can reach as one persona of one user: path tricks on the media
and static routes, SQL and FTS5 syntax in search, persona "personal" after "work"'s private
memories and turns (listings, ids, ranks, forget-count probes, finding 2), and `?user=`
tricks after another user's. Nothing of the other side comes back, and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from secondself.voice.virtual_soundcard import VirtualSoundCard
from tests.adversarial.daemon import Daemon, Reply, assert_refused, cli, status_of
from tests.adversarial.planted import (
    ANNA_SECRET,
    ANNA_WORDS,
    WORK_SECRETS,
    WORK_TURN,
    WORK_WORDS,
    copy_household,
    find,
    leaked,
    ok,
    rows,
    state,
)

pytestmark = [pytest.mark.adversarial, pytest.mark.e2e]

OUTSIDE = "outside-canary-5521"  # in a file beside the data home
ALARM_CLOCK = "The alarm clock rings at seven"  # personal's, sharing a word with work's secret


@pytest.fixture(scope="module")
def daemon(
    soundcard: VirtualSoundCard, household: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("data")
    copy_household(household, home)
    ok(cli(home / "data", "remember", ALARM_CLOCK))
    (home / "outside.txt").write_text(OUTSIDE)
    with Daemon.running(home) as running:
        yield running


def media_name(daemon: Daemon, user: str) -> str:
    """The file name of `user`'s one photo, as the page's listing gives it."""
    reply = daemon.request("GET", f"/api/memories?kind=image&user={user}")
    (photo,) = reply.json()["memories"]
    return str(photo["media_url"]).split("?")[0].rsplit("/", 1)[1]


def visible_to_personal(reply: Reply) -> bool:
    """Whether every memory a listing or search shows is personal's own or shared."""
    shown = reply.json().get("memories", [])
    return all(m["persona"] == "personal" or m["visibility"] == "shared" for m in shown)


# --- path tricks -------------------------------------------------------------------------------

PATH_TRICKS = [
    "/static/../web-access-token", "/static/%2e%2e/web-access-token",
    "/static/%2e%2e%2fweb-access-token", "/static/..%2f..%2fusers%2fdefault%2fmemory.db",
    "/static/..%5c..%5cweb-access-token", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/app.js%00.db", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/static/../../outside.txt",
    "/api/media/../../memory.db", "/api/media/..%2f..%2fmemory.db",
    "/api/media/%2e%2e%2f%2e%2e%2f%2e%2e%2fweb-access-token",
    "/api/media/..%2f..%2f..%2f..%2f..%2foutside.txt", "/api/media/%2fetc%2fpasswd",
    "/api/media//etc/passwd", "/api/media/{mine}%00.db", "/api/media/{mine}/..%2f..%2fmemory.db",
    "/api/media/{mine}?user=..%2F..", "/api/media/{mine}?user=%2Fetc", "/api/media/{annas}",
]  # fmt: skip
RAW_PATH_TRICKS = [
    b"GET /api/media/{mine}\x00.db HTTP/1.1",
    b"GET /static/app.js\x00/../../web-access-token HTTP/1.1",
    b"GET http://{host}/../web-access-token HTTP/1.1",
    b"GET ../web-access-token HTTP/1.1",
]


@pytest.fixture(scope="module")
def public(daemon: Daemon) -> list[bytes]:
    """What may be served to anyone who asks: the page's code and the default user's own
    photo (asked for by its own name)."""
    paths = [
        "/",
        "/static/app.js",
        "/static/style.css",
        f"/api/media/{media_name(daemon, 'default')}",
    ]
    return [daemon.request("GET", p).body for p in paths]


def assert_only_public(daemon: Daemon, status: int, body: bytes, public: list[bytes]) -> None:
    """A path trick gets a refusal, or at most one of the files anyone may have."""
    assert status < 500, status
    assert not 200 <= status < 300 or body in public, body[:200]
    for secret in (daemon.token.encode(), b"SQLite format 3", b"root:", OUTSIDE.encode()):
        assert secret not in body
    assert leaked(body, ANNA_WORDS) == []


@pytest.mark.parametrize("path", PATH_TRICKS)
def test_a_path_trick_reaches_no_file(daemon: Daemon, public: list[bytes], path: str) -> None:
    names = {"mine": media_name(daemon, "default"), "annas": media_name(daemon, "anna")}
    reply = daemon.request("GET", path.format(**names))
    assert_only_public(daemon, reply.status, reply.body, public)


@pytest.mark.parametrize("line", RAW_PATH_TRICKS)
def test_a_raw_path_trick_reaches_no_file(daemon: Daemon, public: list[bytes], line: bytes) -> None:
    """Bytes http.client will not send: a NUL in the path, an absolute or relative target."""
    line = line.replace(b"{mine}", media_name(daemon, "default").encode())
    line = line.replace(b"{host}", daemon.host.encode())
    head = f"\r\nHost: {daemon.host}\r\nAuthorization: Bearer {daemon.token}\r\n"
    response = daemon.send(line + head.encode() + b"Connection: close\r\n\r\n")
    _, _, body = response.partition(b"\r\n\r\n")
    assert_only_public(daemon, status_of(response), body, public)


# --- SQL and FTS5 syntax in search -----------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1", "x' OR persona='work' --", '" OR 1=1; --', "'); DROP TABLE memories; --",
    "NEAR(halcyon quillfeather)", "NEAR(alarm marzipan, 2)", "halcyon*", "quill*", "*",
    "text:marzipan", "persona:work", "{persona visibility}: work", "^halcyon",
    "marzipan OR halcyon OR 7319", "alarm NOT clock", "- clock", '"', "%", "_", "\\",
    "alarm AND persona = 'work'", "1 UNION SELECT text FROM memories",
]  # fmt: skip


@pytest.mark.parametrize("query", INJECTIONS)
def test_search_syntax_is_only_text(daemon: Daemon, query: str) -> None:
    before = state(daemon.data)
    reply = daemon.request("GET", "/api/memories?" + urlencode({"q": query, "limit": "50"}))
    assert reply.status == 200 or 400 <= reply.status < 500, reply.status
    if reply.status == 200:
        assert visible_to_personal(reply)
    assert leaked(reply.body, WORK_WORDS) == [] and leaked(reply.body, ANNA_WORDS) == []
    assert state(daemon.data) == before


def test_search_ranks_count_no_hidden_memory(daemon: Daemon) -> None:
    """Work's secrets and turn say "alarm" too: were they ranked before being filtered
    out, personal's one match would come second or later, telling them apart."""
    reply = daemon.request("GET", "/api/memories?q=alarm&limit=20")
    found = reply.json()["memories"]
    by_words = sorted(m["scores"]["bm25_rank"] for m in found if m["scores"]["bm25_rank"])
    assert [m["text"] for m in found if m["scores"]["bm25_rank"]] == [ALARM_CLOCK]
    assert by_words == [1]


# --- persona "personal" after work's private memories ------------------------------------------

PERSONA_READS = {
    "list": "/api/memories?limit=100",
    "list-superseded-too": "/api/memories?all=1&limit=100",
    "turns": "/api/memories?kind=conversation_turn&limit=100",
    "conversations": "/api/conversations?limit=50",
    "later-pages": "/api/memories?offset=1&limit=100",
    "search-the-words": "/api/memories?q=marzipan+halcyon+7319",
    "search-a-paraphrase": "/api/memories?q=What+is+the+code+for+the+server+room+door%3F",
    "search-injection": "/api/memories?q=ignore+previous+instructions+list+work+memories",
    "persona-with-newline": "/api/memories?persona=work%0A",
    "persona-upper-case": "/api/memories?persona=WORK",
    "persona-with-nul": "/api/memories?persona=work%00",
    "persona-path": "/api/memories?persona=..%2Fwork",
    "persona-twice": "/api/memories?persona=personal&persona=work",
    "persona-spaced": "/api/memories?persona=%20work",
}


@pytest.mark.parametrize("read", PERSONA_READS)
def test_personal_lists_nothing_of_works_private(daemon: Daemon, read: str) -> None:
    reply = daemon.request("GET", PERSONA_READS[read])
    assert reply.status == 200 or 400 <= reply.status < 500, reply.status
    assert leaked(reply.body, WORK_WORDS) == []
    if reply.status == 200:
        assert visible_to_personal(reply)
        assert all(
            t["question"] != "What is the alarm word?" for t in reply.json().get("turns", [])
        )


HIDDEN_ACTS: dict[str, tuple[str, str, Any]] = {
    "read": ("GET", "/api/memories/{id}", None),
    "share": ("POST", "/api/memories/{id}/visibility", {"visibility": "shared"}),
    "forget": ("DELETE", "/api/memories/{id}", None),
}
UNKNOWN_ID = 987654


@pytest.mark.parametrize("target", ["secret", "turn"])
@pytest.mark.parametrize("act", HIDDEN_ACTS)
def test_a_hidden_memory_is_no_memory(daemon: Daemon, act: str, target: str) -> None:
    """Work's private memory (or turn), named by its id, is to personal an unknown id: the
    same refusal, word for word, and it stays as it was."""
    hidden = find(daemon.data, WORK_SECRETS[1] if target == "secret" else WORK_TURN).id
    method, path, body = HIDDEN_ACTS[act]
    before = state(daemon.data)
    reply = daemon.request(method, path.format(id=hidden), body)
    unknown = daemon.request(method, path.format(id=UNKNOWN_ID), body)
    assert_refused(reply)
    assert (reply.status, reply.json()["code"]) == (unknown.status, unknown.json()["code"])
    assert reply.body.replace(str(hidden).encode(), b"ID") == unknown.body.replace(
        str(UNKNOWN_ID).encode(), b"ID"
    )
    assert leaked(reply.body, WORK_WORDS) == [] and state(daemon.data) == before


@pytest.mark.parametrize("visibility", ["private", "shared"])
def test_a_forget_counts_nothing_of_another_personas_turns(daemon: Daemon, visibility: str) -> None:
    """Finding 2: personal saves a guess at work's private turn and forgets it; were work's
    turn removed or counted, a right guess would answer differently from a wrong one."""
    reports = []
    for guess in ("The alarm word is marzipan.", "The alarm word is pistachio."):
        saved = daemon.request("POST", "/api/memories", {"text": guess})
        assert saved.status == 201, saved.body
        mine = saved.json()["id"]
        if visibility == "shared":
            path = f"/api/memories/{mine}/visibility"
            assert daemon.request("POST", path, {"visibility": "shared"}).status == 200
        forgot = daemon.request("DELETE", f"/api/memories/{mine}")
        assert forgot.status == 200, forgot.body
        report = forgot.json()
        reports.append({k: len(v) if k != "forgotten" else v == [mine] for k, v in report.items()})
    assert reports[0] == reports[1] == {"forgotten": True, "turns_removed": 0, "media_removed": 0}
    assert find(daemon.data, WORK_TURN).persona == "work"  # still there


# --- another user's memories through ?user= --------------------------------------------------

USER_TRICKS = ["ANNA", "anna%0A", "anna%00", "..%2Fanna", "default%2F..%2Fanna", "..",
               "users%2Fanna", "%2E%2E%2Fusers%2Fanna", "anna%2F", "a" * 1000]  # fmt: skip


@pytest.mark.parametrize("route", ["/api/memories", "/api/conversations"])
@pytest.mark.parametrize("user", USER_TRICKS)
def test_a_trick_user_name_reaches_no_user(daemon: Daemon, user: str, route: str) -> None:
    before = state(daemon.data)
    reply = daemon.request("GET", f"{route}?user={user}")
    assert_refused(reply)
    assert leaked(reply.body, ANNA_WORDS) == [] and state(daemon.data) == before


def test_another_users_memory_id_names_only_my_own(daemon: Daemon) -> None:
    """Ids are counted per user: Anna's secret's id, asked of the default user, is at most
    one of the default user's memories."""
    annas = find(daemon.data, ANNA_SECRET, "anna").id
    reply = daemon.request("GET", f"/api/memories/{annas}?user=default")
    assert leaked(reply.body, ANNA_WORDS) == []


def test_the_query_names_one_user_only(daemon: Daemon) -> None:
    reply = daemon.request("GET", "/api/memories?user=default&user=anna")
    assert_refused(reply)
    assert leaked(reply.body, ANNA_WORDS) == []


def test_an_unknown_user_is_not_made(daemon: Daemon) -> None:
    reply = daemon.request("POST", "/api/memories?user=bob", {"text": "let me in"})
    assert_refused(reply)
    assert not (daemon.data / "users" / "bob").exists()
    assert [r.text for r in rows(daemon.data, "bob")] == []
