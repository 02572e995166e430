"""`secondself token create|list|revoke`: the token printed once (alone on stdout) with the
page's certificate fingerprint, listed without it, revoked by name or id; bad input is one
line, exit 2, and keeps nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secondself.cli.main import main
from secondself.web import tls
from secondself.web.tokens import TokenBook

pytestmark = pytest.mark.unit


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_token_once_and_it_is_granted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, tmp_path, "token", "create", "--scope", "ask", "--expires", "30d", "--name", "ha"
    )
    assert code == 0, err
    token = out.strip()
    assert out.count("\n") == 1 and token.startswith("ss_")  # alone: `TOKEN=$(...)` works
    assert "persona personal of user default, scope ask, expires" in err
    assert "no TLS" in err  # loopback, web.tls off
    book = TokenBook.open(tmp_path)
    try:
        grant = book.grant(token)
        assert (grant.user, grant.persona, grant.scope) == ("default", "personal", "ask")
    finally:
        book.close()
    code, listed, _ = run(capsys, tmp_path, "token", "list")
    assert code == 0 and "ha" in listed and "active" in listed and token not in listed
    assert token.rsplit("_", 1)[1] not in listed


def test_the_certificate_fingerprint_comes_with_every_token_when_tls_is_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECONDSELF_WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("SECONDSELF_WEB_TLS", "true")
    code, out, _ = run(capsys, tmp_path, "token", "create", "--scope", "read", "--json")
    assert code == 0
    made = json.loads(out)
    certificate = tls.load(tmp_path)  # made now, as the daemon's first start would
    assert certificate is not None and made["tls_fingerprint"] == certificate.fingerprint
    assert made["scope"] == "read" and made["expires"] is None and "sha256" not in made
    code, _, err = run(capsys, tmp_path, "token", "list")
    assert code == 0 and certificate.fingerprint in err


def test_user_and_persona_may_come_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, tmp_path, "user", "add", "anna")[0] == 0
    assert run(capsys, tmp_path, "--user", "anna", "persona", "create", "work")[0] == 0
    assert run(capsys, tmp_path, "--user", "anna", "token", "create", "--scope", "read")[0] == 0
    code, _, err = run(
        capsys, tmp_path, "token", "create", "--user", "anna", "--persona", "work",
        "--scope", "remember",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, tmp_path, "token", "list", "--json")
    made = [(t["user"], t["persona"], t["scope"]) for t in json.loads(out)["tokens"]]
    assert made == [("anna", "personal", "read"), ("anna", "work", "remember")]


def test_revoke_by_name_or_id_and_it_shows_in_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, tmp_path, "token", "create", "--scope", "read", "--name", "phone")
    _, out, _ = run(capsys, tmp_path, "token", "create", "--scope", "read", "--json")
    second = json.loads(out)["id"]
    code, out, _ = run(capsys, tmp_path, "token", "revoke", "phone")
    assert code == 0 and "revoked token" in out and "(phone)" in out
    assert run(capsys, tmp_path, "token", "revoke", second)[0] == 0
    _, out, _ = run(capsys, tmp_path, "token", "list", "--json")
    assert [t["state"] for t in json.loads(out)["tokens"]] == ["revoked", "revoked"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["create", "--scope", "root"], "use one of read, ask, remember, admin"),
        (["create", "--scope", "read", "--expires", "forever"], "--expires"),
        (["create", "--scope", "read", "--persona", "nobody"], "no persona 'nobody'"),
        (["create", "--scope", "read", "--user", "nobody"], "nobody"),
        (["create", "--scope", "read", "--user", "../etc"], "invalid user name"),
        (["create", "--scope", "read", "--name", "My Phone"], "invalid token name"),
        (["create", "--scope", "read", "--name", "taken"], "exists"),
        (["revoke", "nothing"], "no token"),
        (["revoke", "taken-before"], "revoked already"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_keeps_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    run(capsys, tmp_path, "token", "create", "--scope", "read", "--name", "taken")
    run(capsys, tmp_path, "token", "create", "--scope", "read", "--name", "taken-before")
    run(capsys, tmp_path, "token", "revoke", "taken-before")
    code, out, err = run(capsys, tmp_path, "token", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err and "Traceback" not in err
    book = TokenBook.open(tmp_path)
    try:
        assert [(r.name, r.revoked is None) for r in book.all()] == [
            ("taken", True),
            ("taken-before", False),
        ]
    finally:
        book.close()
