"""Users: one folder (one database file) each, the wake-word registry and `route`, the `user`
CLI, and names that try to leave their folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secondself.cli.main import main
from secondself.core.errors import UserError
from secondself.household.personas import Persona
from secondself.household.routing import Registry, Route, build_registry, route
from secondself.household.users import Household
from secondself.memory.store import MemoryStore
from tests.household.test_personas import CATALOG, DEFAULTS, persona
from tests.memory.test_support import HashEmbedder
from tests.support.terminal import on_a_terminal

pytestmark = pytest.mark.unit

# "evil\n": `$` also matches before a trailing newline, so only a full match is a name.
PATH_TRICKS = ["../a", "a/b", "", ".", "..", "/etc", "a\x00b", "A", "-a", "a" * 33, "ü", "evil\n"]


def implicit(wake: str | None) -> Persona:
    return Persona("personal", wake, "v", "m", implicit=True)


# --- route: a pure function of the registry ----------------------------------------------


def test_route_maps_each_wake_word_to_its_user_and_persona() -> None:
    registry = build_registry(
        [
            ("default", implicit("hey_jarvis")),
            ("default", persona("work", "alexa")),
            ("bob", persona("personal", "hey_marvin")),
            ("bob", persona("gym", None)),
        ]
    )
    assert route(registry, "hey_jarvis") == Route("default", "personal")
    assert route(registry, "alexa") == Route("default", "work")
    assert route(registry, "hey_marvin") == Route("bob", "personal")
    assert route(registry, "hey_mycroft") is None  # nobody's: the daemon ignores it
    assert registry.wake_words() == ("alexa", "hey_jarvis", "hey_marvin")
    assert registry.conflicts == ()


def test_a_written_persona_wins_over_the_implicit_default() -> None:
    # The config's wake word changed to one a written persona already has.
    registry = build_registry(
        [("default", implicit("alexa")), ("bob", persona("personal", "alexa"))]
    )
    assert route(registry, "alexa") == Route("bob", "personal")
    assert (
        len(registry.conflicts) == 1
        and "persona personal (user default)" in (registry.conflicts[0])
    )


def test_among_equals_the_first_user_by_name_wins_whatever_the_order() -> None:
    pairs = [("zed", persona("work", "alexa")), ("amy", persona("home", "alexa"))]
    assert route(build_registry(pairs), "alexa") == Route("amy", "home")
    assert route(build_registry(reversed(pairs)), "alexa") == Route("amy", "home")


def test_an_empty_registry_routes_nothing() -> None:
    assert route(Registry(), "hey_jarvis") is None


# --- the household -------------------------------------------------------------------------


@pytest.fixture
def household(tmp_path: Path) -> Household:
    return Household(tmp_path, DEFAULTS, CATALOG)


def test_add_user_makes_a_private_folder_with_its_own_database(household: Household) -> None:
    info = household.add_user("bob", wake_word="hey_marvin")
    assert info.folder == household.home / "users" / "bob"
    assert (info.folder / "memory.db").is_file() and info.db_bytes > 0
    assert info.folder.stat().st_mode & 0o077 == 0
    assert household.users() == ["default", "bob"]
    assert route(household.registry(), "hey_marvin") == Route("bob", "personal")
    assert route(household.registry(), "hey_jarvis") == Route("default", "personal")


def test_add_user_refuses_a_taken_wake_word_before_creating_anything(
    household: Household,
) -> None:
    with pytest.raises(UserError, match="already wakes persona 'personal' of user 'default'"):
        household.add_user("bob", wake_word="hey_jarvis")
    assert not household.folder("bob").exists()
    with pytest.raises(UserError, match="already exists"):
        household.add_user("default")


def test_remove_user_forgets_their_files_and_frees_their_wake_word(household: Household) -> None:
    household.add_user("bob", wake_word="alexa")
    with MemoryStore.open(household.folder("bob"), HashEmbedder()) as store:
        store.remember("my locker code is 5150")
    removed = household.remove_user("bob")
    assert "memory.db" in removed and "personas.json" in removed
    assert not household.folder("bob").exists()
    assert household.users() == ["default"]
    assert route(household.registry(), "alexa") is None
    with pytest.raises(UserError, match="no user 'bob'"):
        household.remove_user("bob")


def test_only_real_user_folders_are_users(household: Household) -> None:
    users = household.home / "users"
    (users / "Not_Valid").mkdir(parents=True)
    (users / "stray.txt").write_text("x")
    (users / "carol").mkdir()
    (users / "link").symlink_to(users / "carol")
    assert household.users() == ["default", "carol"]


@pytest.mark.parametrize("name", PATH_TRICKS)
def test_path_tricks_never_name_a_folder(household: Household, name: str) -> None:
    for attempt in (
        lambda: household.add_user(name),
        lambda: household.remove_user(name),
        lambda: household.persona(name, "personal"),
        lambda: household.create_persona("default", persona(name, None)),
    ):
        with pytest.raises(UserError) as caught:
            attempt()
        assert caught.value.code == "bad-name"
    assert sorted(p.name for p in household.home.rglob("*")) in ([], ["users"], [".lock", "users"])


# --- CLI ----------------------------------------------------------------------------------


def run(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


def test_cli_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "user", "add", "bob", "--wake", "alexa") == 0
    assert "added user bob" in capsys.readouterr().out
    assert run(tmp_path, "user", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [u["name"] for u in listed] == ["default", "bob"]
    assert listed[1]["personas"][0]["wake_word"] == "alexa"
    assert listed[1]["folder"] == str(tmp_path / "users" / "bob")
    assert run(tmp_path, "user", "list") == 0
    assert "personal (alexa)" in capsys.readouterr().out
    assert run(tmp_path, "user", "remove", "bob", "--yes") == 0
    assert "removed user bob" in capsys.readouterr().out
    assert not (tmp_path / "users" / "bob").exists()


def test_cli_user_add_refuses_a_name_with_a_trailing_newline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "user", "add", "evil\n") == 2
    err = capsys.readouterr().err
    assert err == "secondself: invalid user name 'evil\\n': use 1-32 of a-z, 0-9, '-' and '_'\n"
    assert not (tmp_path / "users" / "evil\n").exists()
    assert Household(tmp_path, DEFAULTS, CATALOG).users() == ["default"]


def test_cli_remove_off_a_terminal_needs_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "user", "add", "bob") == 0
    assert run(tmp_path, "user", "remove", "bob") == 2
    assert "add --yes" in capsys.readouterr().err
    assert (tmp_path / "users" / "bob" / "memory.db").is_file()


@pytest.mark.parametrize(("answer", "rc", "gone"), [(b"y\n", 0, True), (b"\n", 1, False)])
def test_cli_remove_on_a_terminal_asks(tmp_path: Path, answer: bytes, rc: int, gone: bool) -> None:
    assert run(tmp_path, "user", "add", "bob") == 0
    returncode, out = on_a_terminal(tmp_path, answer, "user", "remove", "bob")
    assert returncode == rc and "Forget EVERYTHING of user bob" in out
    assert (tmp_path / "users" / "bob").exists() is not gone


@pytest.mark.parametrize("name", ["../a", "a/b", "", "..", "/tmp/x", "evil\n"])
@pytest.mark.parametrize(
    "command",
    [
        ["user", "add", "{}"],
        ["user", "remove", "{}", "--yes"],
        ["--user", "{}", "memories"],
        ["--user", "{}", "remember", "x"],
        ["--user", "{}", "forget", "--user-all", "--yes"],
        ["--user", "{}", "persona", "list"],
        ["--user", "{}", "ask", "anything?"],
    ],
)
def test_cli_path_tricks_are_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, command: list[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    victim = tmp_path / "a"
    victim.mkdir()
    (victim / "memory.db").write_bytes(b"precious")
    args = [part.replace("{}", name) for part in command]
    assert run(home, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("secondself: invalid user name") and err.count("\n") == 1
    assert (victim / "memory.db").read_bytes() == b"precious"
    assert list(home.iterdir()) == []
