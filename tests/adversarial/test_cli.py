"""The CLI of another shell on the running daemon's data home: input that made tracebacks
(finding 9), names with a trailing newline or a path in them (10), SQL in `forget --match`,
forget-count probes across personas (2), a user forgotten or removed while the daemon
runs (1), and files other accounts could read (4), the daemon started under umask 022."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.household.stores import SWEEP_S
from secondself.voice.virtual_soundcard import VirtualSoundCard
from tests.adversarial.daemon import Daemon, assert_refused, cli
from tests.adversarial.planted import (
    ANNA_WORDS,
    WORK_SECRETS,
    WORK_TURN,
    WORK_WORDS,
    copy_household,
    files_holding,
    find,
    jsonl,
    leaked,
    rows,
    state,
)
from tests.memory.test_support import tiny_jpeg
from tests.support.private import not_private

pytestmark = [pytest.mark.adversarial, pytest.mark.e2e]

SHELL_UMASK = 0o022  # a login shell's: what the data home was made under before finding 4
NOT_UTF8 = b"my pin is \xed\xa0\x80".decode("utf-8", "surrogateescape")  # as argv has it


@pytest.fixture(scope="module")
def daemon(
    soundcard: VirtualSoundCard, household: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("cli")
    data = copy_household(household, home)
    for path in [data, *data.rglob("*")]:  # as an older version left it (finding 4)
        path.chmod(0o755 if path.is_dir() else 0o644)
    umask = os.umask(SHELL_UMASK)
    try:
        with Daemon.running(home) as running:
            yield running
    finally:
        os.umask(umask)


def test_the_start_made_an_older_data_home_private(daemon: Daemon) -> None:
    repaired = [line for line in daemon.log().splitlines() if "readable by others" in line]
    assert len(repaired) == 1, repaired
    assert not_private(daemon.data) == []


# --- bad input: one line, exit 2, nothing changed (finding 9) ----------------------------------

BAD_JSONL = {
    "nested-value": b'{"text": {"nested": [1, 2]}}\n',
    "100000-deep": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "lone-surrogate": b'{"text": "my pin is \\ud800"}\n',
    "not-utf8": b'{"text": "\xff\xfe"}\n',
    "huge-whole-number": b'{"text": "x", "id": 1' + b"0" * 5000 + b"}\n",
    "infinite-id": b'{"text": "x", "id": 1e400}\n',
    "record-of-nothing": b'{"text": "\\u0000\\u0001\\u0002"}\n',
}


@pytest.mark.parametrize("attack", BAD_JSONL)
def test_a_bad_jsonl_line_is_one_line(daemon: Daemon, tmp_path: Path, attack: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "a fine note"}\n' + BAD_JSONL[attack])
    before = state(daemon.data)
    cli(daemon.data, "import", str(path)).assert_one_line_error()
    assert state(daemon.data) == before


BAD_ARGUMENTS = {
    "forget-huge-id": ["forget", "99999999999999999999999", "--yes"],
    "forget-since-forever": ["forget", "--since", "99999999d", "--yes"],
    "forget-until-year-0": ["forget", "--until", "0000-01-01", "--yes"],
    "remember-not-unicode": ["remember", NOT_UTF8],
    "search-not-unicode": ["memories", "--search", NOT_UTF8],
    "correct-not-unicode": ["correct", NOT_UTF8],
    "ask-not-unicode": ["ask", NOT_UTF8],
    "list-huge-limit": ["memories", "--limit", "99999999999999999999"],
    "search-huge-limit": ["memories", "--search", "dog", "--limit", "99999999999999999999"],
    "correct-a-huge-id": ["remember", "--kind", "correction", "--corrects",
                          "99999999999999999999", "it is Rex"],
}  # fmt: skip


@pytest.mark.parametrize("attack", BAD_ARGUMENTS)
def test_a_bad_argument_is_one_line(daemon: Daemon, attack: str) -> None:
    before = state(daemon.data)
    cli(daemon.data, *BAD_ARGUMENTS[attack]).assert_one_line_error()
    assert state(daemon.data) == before


def test_a_photo_dated_year_1_is_imported_with_a_time_a_clock_can_show(
    daemon: Daemon, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "IMG_0101.jpg").write_bytes(tiny_jpeg("0001:01:01 00:00:00", b"year one"))
    run = cli(daemon.data, "import", str(photos))
    assert run.code == 0, run.err
    assert cli(daemon.data, "memories", "--kind", "image", "--json").code == 0
    assert daemon.request("GET", "/api/memories?kind=image").status == 200


# --- names that are not names (finding 10) -----------------------------------------------------

BAD_NAMES = {
    "user-with-newline": ["user", "add", "evil\n"],
    "user-path": ["user", "add", "../escape"],
    "user-upper-case": ["user", "add", "Evil"],
    "user-too-long": ["user", "add", "a" * 33],
    "persona-with-newline": ["persona", "create", "work2\n"],
    "persona-path": ["persona", "create", "../x"],
    "as-user-with-newline": ["--user", "default\n", "memories"],
    "as-persona-with-newline": ["--persona", "personal\n", "remember", "x"],
    "as-persona-path": ["--persona", "../work", "memories"],
    "forget-user-with-newline": ["--user", "anna\n", "forget", "--user-all", "--yes"],
    "forget-user-path": ["--user", "../users/anna", "forget", "--user-all", "--yes"],
    "remove-user-with-newline": ["user", "remove", "anna\n", "--yes"],
}


@pytest.mark.parametrize("attack", BAD_NAMES)
def test_a_name_that_is_not_a_name_makes_and_removes_nothing(daemon: Daemon, attack: str) -> None:
    before = state(daemon.data)
    cli(daemon.data, *BAD_NAMES[attack]).assert_one_line_error()
    assert state(daemon.data) == before


# --- SQL in forget --match, as persona personal ------------------------------------------------

MATCHES = ["' OR '1'='1", "%", "_", "' OR persona='work' --", "*", "NEAR(marzipan)", "marzipan",
           "7319", "alarm word is marzipan", '"', "\\", "') OR 1=1; DELETE FROM memories; --"]  # fmt: skip


@pytest.mark.parametrize("text", MATCHES)
def test_forget_match_text_is_only_text(daemon: Daemon, text: str) -> None:
    """What goes is what holds the very text and personal may see: nothing of work's."""
    before = rows(daemon.data)
    run = cli(daemon.data, "forget", "--match", text, "--yes")
    assert run.code == 0, run.err
    after = rows(daemon.data)
    gone = [r for r in before if r not in after]
    assert all(text.lower() in r.text.lower() and r.persona == "personal" for r in gone), gone
    assert [r for r in after if r not in before] == []
    assert leaked(run.out + run.err, WORK_WORDS) == []


# --- forget-count probes across personas (finding 2) -------------------------------------------


def test_a_forget_of_a_guess_counts_and_removes_only_the_guess(daemon: Daemon) -> None:
    guess = "The alarm word is marzipan."
    assert cli(daemon.data, "remember", guess).code == 0
    run = cli(daemon.data, "forget", "--match", "alarm word is marzipan", "--yes")
    assert run.code == 0, run.err
    assert run.out.startswith("forgot 1 memories") and "turns" not in run.out
    assert find(daemon.data, WORK_TURN).persona == "work"
    assert find(daemon.data, WORK_SECRETS[1]).persona == "work"


def test_a_backdated_shared_guess_removes_no_turn_of_another_persona(
    daemon: Daemon, tmp_path: Path
) -> None:
    guess = tmp_path / "guess.jsonl"
    guess.write_text(jsonl([{"text": "the alarm word is marzipan", "visibility": "shared",
                             "created": "2001-01-01"}]))  # fmt: skip
    assert cli(daemon.data, "import", str(guess)).code == 0
    run = cli(daemon.data, "forget", "--match", "the alarm word is marzipan", "--yes")
    assert run.code == 0 and run.out.startswith("forgot 1 memories"), run.err
    assert [r.persona for r in rows(daemon.data) if r.text == WORK_TURN] == ["work"]


# --- a user forgotten or removed while the daemon runs (finding 1) -----------------------------


def test_a_user_forgotten_by_the_cli_is_forgotten_by_the_daemon(daemon: Daemon) -> None:
    assert daemon.request("GET", "/api/memories?user=anna").json()["memories"]  # open in it
    assert cli(daemon.data, "--user", "anna", "forget", "--user-all", "--yes").code == 0
    for route in ("/api/memories", "/api/conversations"):
        reply = daemon.request("GET", f"{route}?user=anna")
        assert reply.status < 500 and leaked(reply.body, ANNA_WORDS) == []
    after = daemon.request("POST", "/api/memories?user=anna", {"text": "saved after the forget"})
    if after.status == 201:  # then into the file on disk, not the deleted one
        assert [r.text for r in rows(daemon.data, "anna")] == ["saved after the forget"]
    else:  # or the user is gone, folder and all
        assert_refused(after)
        assert not (daemon.data / "users" / "anna").exists()
    assert files_holding(daemon.data, ANNA_WORDS) == []


def test_a_user_removed_by_the_cli_is_removed_from_the_daemon(daemon: Daemon) -> None:
    assert cli(daemon.data, "user", "add", "bob").code == 0
    saved = daemon.request("POST", "/api/memories?user=bob", {"text": "bob's locker is quahog"})
    assert saved.status == 201, saved.body
    assert cli(daemon.data, "user", "remove", "bob", "--yes").code == 0
    assert_refused(daemon.request("GET", "/api/memories?user=bob"))
    assert_refused(daemon.request("POST", "/api/memories?user=bob", {"text": "again"}))
    assert not (daemon.data / "users" / "bob").exists()
    assert files_holding(daemon.data, ["quahog"]) == []


@pytest.mark.parametrize("how", ["forget-user-all", "user-remove"])
def test_no_deleted_file_of_a_forgotten_user_stays_open(daemon: Daemon, how: str) -> None:
    user = f"gone-{how}"
    assert cli(daemon.data, "user", "add", user).code == 0
    saved = daemon.request("POST", f"/api/memories?user={user}", {"text": "open it, please"})
    assert saved.status == 201, saved.body
    if how == "user-remove":
        assert cli(daemon.data, "user", "remove", user, "--yes").code == 0
    else:
        assert cli(daemon.data, "--user", user, "forget", "--user-all", "--yes").code == 0
    daemon.request("GET", f"/api/memories?user={user}")
    folder = str(daemon.data / "users" / user)
    deadline = time.monotonic() + 3 * SWEEP_S  # the daemon's sweep lets go of it
    while [p for p in daemon.open_fds() if p.startswith(folder)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in daemon.open_fds() if p.startswith(folder)] == []


# --- files other accounts could read (finding 4) -----------------------------------------------


def test_an_export_is_private(daemon: Daemon) -> None:
    archive = daemon.data.parent / "export.tar.gz"
    assert cli(daemon.data, "export", str(archive)).code == 0
    assert archive.stat().st_mode & 0o777 == 0o600


def test_after_everything_the_data_home_is_still_private(daemon: Daemon) -> None:
    """Every folder 0700, every file 0600: the database, -wal, -shm, media, the token."""
    assert not_private(daemon.data) == []
    assert daemon.alive()
