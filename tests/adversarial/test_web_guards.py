"""Who may ask the page at all: the install token (none, wrong, in a cookie or the query
string), the Host check against DNS rebinding (other sites' names, port tricks, no Host),
`/metrics` from a foreign Host, and the cross-site rules (Origin, `Origin: null`,
Sec-Fetch-Site, the write header, CORS). Every refusal is a 4xx in the API's JSON shape,
holds nothing of the user's, and changes nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secondself.voice.virtual_soundcard import VirtualSoundCard
from tests.adversarial.daemon import Daemon, Reply, assert_refused, status_of
from tests.adversarial.planted import (
    DOG,
    WORK_SECRETS,
    WORK_WORDS,
    copy_household,
    find,
    leaked,
    state,
)

pytestmark = [pytest.mark.adversarial, pytest.mark.e2e]


@pytest.fixture(scope="module")
def daemon(
    soundcard: VirtualSoundCard, household: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("guards")
    copy_household(household, home)
    with Daemon.running(home) as running:
        yield running


def secret_id(daemon: Daemon) -> int:
    return find(daemon.data, WORK_SECRETS[1]).id


def assert_nothing_given_away(daemon: Daemon, reply: Reply, before: object) -> None:
    assert_refused(reply)
    assert leaked(reply.body, WORK_WORDS) == [] and daemon.token.encode() not in reply.body
    assert state(daemon.data) == before


# --- the install token -------------------------------------------------------------------------

ACTIONS: dict[str, tuple[str, str, Any]] = {
    "list": ("GET", "/api/memories?persona=work&limit=100", None),
    "search": ("GET", "/api/memories?persona=work&q=alarm+word+marzipan", None),
    "read": ("GET", "/api/memories/{secret}?persona=work", None),
    "remember": ("POST", "/api/memories?persona=work", {"text": "planted by an attacker"}),
    "forget": ("DELETE", "/api/memories/{secret}?persona=work", None),
    "live": ("GET", "/api/events", None),
}
WAYS = ["none", "wrong", "truncated", "other-case", "basic", "basic-encoded", "empty",
        "cookie", "old-cookie", "query", "access-token-query"]  # fmt: skip


def credentials(way: str, token: str) -> tuple[dict[str, str | None], str]:
    """The headers and query parameter an attacker sends instead of the bearer token."""
    bearer = {"Authorization": None}
    if way == "wrong":
        return {"Authorization": f"Bearer {'A' * len(token)}"}, ""
    if way == "truncated":
        return {"Authorization": f"Bearer {token[:-1]}"}, ""
    if way == "other-case":
        return {"Authorization": f"Bearer {token.swapcase()}"}, ""
    if way == "basic":
        return {"Authorization": f"Basic {token}"}, ""
    if way == "basic-encoded":
        return {"Authorization": f"Basic {base64.b64encode(f'x:{token}'.encode()).decode()}"}, ""
    if way == "empty":
        return {"Authorization": "Bearer "}, ""
    if way == "cookie":  # a browser sends a 127.0.0.1 cookie to every local port
        return {**bearer, "Cookie": f"secondself={token}"}, ""
    if way == "old-cookie":  # the cookie older versions set
        return {**bearer, "Cookie": f"secondself_0123abcd={token}"}, ""
    if way == "query":
        return bearer, f"token={token}"
    if way == "access-token-query":
        return bearer, f"access_token={token}"
    return bearer, ""


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("way", WAYS)
def test_the_token_is_the_only_way_in(daemon: Daemon, way: str, action: str) -> None:
    method, path, body = ACTIONS[action]
    path = path.format(secret=secret_id(daemon))
    headers, query = credentials(way, daemon.token)
    if query:
        path += ("&" if "?" in path else "?") + query
    before = state(daemon.data)
    reply = daemon.request(method, path, body, headers=headers)
    assert reply.status == 401, reply.status
    assert_nothing_given_away(daemon, reply, before)
    if method == "GET" and action != "live":  # the same request with the token gets in
        assert daemon.request(method, path).status == 200


# --- the Host check (DNS rebinding) ------------------------------------------------------------

# Names a rebinding page's requests carry: its own, with or without a port, made to look
# like ours, and 0.0.0.0 (which browsers route to this machine).
OTHER_HOSTS = ["evil.example", "evil.example:{port}", "evil.example:80",
               "localhost.evil.example:{port}", "127.0.0.1.evil.example:{port}",
               "127.0.0.1.nip.io:{port}", "0.0.0.0:{port}"]  # fmt: skip


@pytest.mark.parametrize("path", ["/", "/api/memories?persona=work&limit=100"])
@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_another_sites_host_name_is_refused(daemon: Daemon, host: str, path: str) -> None:
    """With the token even: the Host check alone refuses."""
    before = state(daemon.data)
    reply = daemon.request("GET", path, headers={"Host": host.format(port=daemon.port)})
    assert_nothing_given_away(daemon, reply, before)
    assert daemon.request("GET", path).status == 200  # the same request, our own name


HOST_SHAPES = {
    "no-host-http-1.0": b"GET /api/users HTTP/1.0\r\n{auth}\r\n",
    "no-host-http-1.1": b"GET /api/users HTTP/1.1\r\n{auth}\r\n",
    "empty-host": b"GET /api/users HTTP/1.1\r\nHost: \r\n{auth}\r\n",
    "ours-then-evil": b"GET /api/users HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n{auth}\r\n",
    "evil-then-ours": b"GET /api/users HTTP/1.1\r\nHost: evil.example\r\nHost: {host}\r\n{auth}\r\n",
}


@pytest.mark.parametrize("shape", HOST_SHAPES)
def test_a_request_without_one_host_is_refused(daemon: Daemon, shape: str) -> None:
    auth = f"Authorization: Bearer {daemon.token}\r\nConnection: close\r\n".encode()
    request = HOST_SHAPES[shape].replace(b"{auth}", auth).replace(b"{host}", daemon.host.encode())
    response = daemon.send(request)
    assert 400 <= status_of(response) < 500, response[:200]
    assert b'"users"' not in response and b"anna" not in response


@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_metrics_refuse_a_foreign_host_without_the_token(daemon: Daemon, host: str) -> None:
    """Finding 7: a rebinding page read the activity counters."""
    reply = daemon.request("GET", "/metrics", headers={"Host": host.format(port=daemon.port)},
                           token=False)  # fmt: skip
    assert_refused(reply)
    assert b"secondself_" not in reply.body
    local = daemon.request("GET", "/metrics", token=False)  # a scrape on this machine
    assert local.status == 200 and b"secondself_" in local.body


def test_metrics_refuse_a_foreign_host_with_a_wrong_token(daemon: Daemon) -> None:
    wrong = {"Host": "evil.example", "Authorization": f"Bearer {'A' * len(daemon.token)}"}
    reply = daemon.request("GET", "/metrics", headers=wrong)
    assert_refused(reply)
    assert b"secondself_" not in reply.body


# --- the cross-site rules ----------------------------------------------------------------------

EVIL = "http://evil.example"
CROSS_SITE: dict[str, tuple[str, str, Any, dict[str, str | None]]] = {
    "remember-evil-origin": ("POST", "/api/memories", {"text": "x"}, {"Origin": EVIL}),
    "remember-null-origin": ("POST", "/api/memories", {"text": "x"}, {"Origin": "null"}),
    "remember-other-port": ("POST", "/api/memories", {"text": "x"},
                            {"Origin": "http://127.0.0.1:1"}),
    "remember-https-origin": ("POST", "/api/memories", {"text": "x"},
                              {"Origin": "https://{host}"}),
    "remember-cross-site": ("POST", "/api/memories", {"text": "x"},
                            {"Sec-Fetch-Site": "cross-site"}),
    "remember-same-site": ("POST", "/api/memories", {"text": "x"},
                           {"Sec-Fetch-Site": "same-site"}),  # another port here
    "remember-no-header": ("POST", "/api/memories", {"text": "x"}, {"X-Secondself": None}),
    "remember-header-0": ("POST", "/api/memories", {"text": "x"}, {"X-Secondself": "0"}),
    "remember-as-a-form": ("POST", "/api/memories", {"text": "x"},
                           {"X-Secondself": None, "Content-Type": "text/plain"}),
    "forget-evil-origin": ("DELETE", "/api/memories/{dog}", None, {"Origin": EVIL}),
    "forget-null-origin": ("DELETE", "/api/memories/{dog}", None, {"Origin": "null"}),
    "forget-no-header": ("DELETE", "/api/memories/{dog}", None, {"X-Secondself": None}),
    "share-evil-origin": ("POST", "/api/memories/{dog}/visibility", {"visibility": "shared"},
                          {"Origin": EVIL}),
    "correct-evil-origin": ("POST", "/api/correct", {"text": "Rex"}, {"Origin": EVIL}),
    "read-cross-site": ("GET", "/api/memories?persona=work", None,
                        {"Sec-Fetch-Site": "cross-site"}),
    "live-cross-site": ("GET", "/api/events", None, {"Sec-Fetch-Site": "cross-site"}),
}  # fmt: skip


@pytest.mark.parametrize("attack", CROSS_SITE)
def test_another_site_can_neither_change_nor_read(daemon: Daemon, attack: str) -> None:
    """With the token even (a page on another site has none: this is the rule behind it)."""
    method, path, body, headers = CROSS_SITE[attack]
    path = path.format(dog=find(daemon.data, DOG).id)
    headers = {k: v if v is None else v.format(host=daemon.host) for k, v in headers.items()}
    before = state(daemon.data)
    reply = daemon.request(method, path, body, headers=headers)
    assert 400 <= reply.status < 500 and reply.status != 404, reply.status
    assert_nothing_given_away(daemon, reply, before)


def test_a_preflight_is_never_approved(daemon: Daemon) -> None:
    reply = daemon.request(
        "OPTIONS",
        "/api/memories/1",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "DELETE",
                 "Access-Control-Request-Headers": "authorization, x-secondself"},
        token=False,
    )  # fmt: skip
    assert not 200 <= reply.status < 300, reply.status
    assert not any(name.startswith("access-control-allow") for name in reply.headers)


def test_no_answer_lets_another_origin_read_it(daemon: Daemon) -> None:
    reply = daemon.request("GET", "/api/memories?persona=work", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in reply.headers
    assert reply.headers.get("cross-origin-resource-policy") == "same-origin"


def test_the_page_cannot_be_framed(daemon: Daemon) -> None:
    """Clickjacking the Forget button: no other site may show the page in a frame."""
    page = daemon.request("GET", "/", token=False)
    assert page.status == 200
    policy = page.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy or page.headers.get("x-frame-options") == "DENY"


def test_the_log_holds_no_secret_and_no_token(daemon: Daemon) -> None:
    """After every attack above: the daemon's log names neither the token nor a secret."""
    log = daemon.log()
    assert daemon.alive()
    assert leaked(log, WORK_WORDS) == [] and daemon.token not in log
    assert "Traceback" not in log
