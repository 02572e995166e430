"""Personas: validation, the per-user file (atomic, checked on read), the household rules
(one wake word wakes one persona), and the `persona` CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from secondself.cli.main import main
from secondself.core.errors import UserError
from secondself.household.personas import (
    PERSONAS_FILE,
    Backoff,
    Catalog,
    Defaults,
    Persona,
    PersonaBook,
    write_atomic,
)
from secondself.household.users import Household
from secondself.memory.model import Visibility
from secondself.memory.store import MemoryStore
from tests.memory.test_support import HashEmbedder
from tests.support.terminal import on_a_terminal

pytestmark = pytest.mark.unit

CATALOG = Catalog(
    wake_words=frozenset({"hey_jarvis", "alexa", "hey_mycroft", "hey_marvin"}),
    voices=frozenset({"en_US-joe-medium"}),
    models=frozenset({"qwen2.5-0.5b-instruct", "smollm2-135m-instruct"}),
)
DEFAULTS = Defaults("hey_jarvis", "en_US-joe-medium", "qwen2.5-0.5b-instruct")


def persona(name: str = "work", wake: str | None = "alexa", **kw: Any) -> Persona:
    base = Persona(name, wake, "en_US-joe-medium", "qwen2.5-0.5b-instruct")
    return Persona(**(base.to_dict() | kw))


@pytest.fixture
def household(tmp_path: Path) -> Household:
    return Household(tmp_path, DEFAULTS, CATALOG)


def run(home: Path, *args: str) -> int:
    return main(["--home", str(home), *args])


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"wake_word": "ok_google"}, "persona-wake"),
        ({"voice": "en_GB-nobody"}, "persona-voice"),
        ({"model": "gpt-5"}, "persona-model"),
        ({"model": "/etc/passwd"}, "persona-model"),  # a path, but not a .gguf
        ({"threshold": 101}, "persona-threshold"),
        ({"threshold": -1}, "persona-threshold"),
        ({"directives": "x" * 401}, "persona-directives"),
        ({"directives": "be nice\x07"}, "persona-directives"),
        ({"name": "../work"}, "bad-name"),
    ],
)
def test_a_bad_setting_is_refused_with_a_clear_code(change: dict[str, Any], code: str) -> None:
    with pytest.raises(UserError) as caught:
        CATALOG.check(persona(**change))
    assert caught.value.code == code and caught.value.exit_code == 2


def test_check_cleans_directives_and_makes_model_paths_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    (tmp_path / "voice.onnx").write_bytes(b"onnx")
    monkeypatch.chdir(tmp_path)
    checked = CATALOG.check(
        persona(model="mine.gguf", voice="voice.onnx", directives="curious,\n\n asks  back ")
    )
    assert checked.model == str(tmp_path / "mine.gguf")
    assert checked.voice == str(tmp_path / "voice.onnx")
    assert checked.directives == "curious, asks back"  # one line: no fake prompt sections


def test_the_catalog_comes_from_the_manifest(model_store_manifest: Catalog) -> None:
    assert model_store_manifest.wake_words == CATALOG.wake_words
    assert "en_US-joe-medium" in model_store_manifest.voices
    assert model_store_manifest.models == CATALOG.models


@pytest.fixture
def model_store_manifest() -> Catalog:
    from secondself.core.paths import source_models_dir
    from secondself.weights.manifest import Manifest

    folder = source_models_dir()
    assert folder is not None
    return Catalog.from_manifest(Manifest.load(folder / "manifest.toml"))


# --- the file --------------------------------------------------------------------------------


def test_personal_exists_without_a_file_with_the_config_settings(tmp_path: Path) -> None:
    book = PersonaBook(tmp_path / "default", "default", DEFAULTS)
    (personal,) = book.all()
    assert (personal.name, personal.wake_word, personal.implicit) == (
        "personal",
        "hey_jarvis",
        True,
    )
    assert not (tmp_path / "default").exists()  # reading creates nothing
    other = PersonaBook(tmp_path / "bob", "bob", DEFAULTS).get("personal")
    assert other.wake_word is None  # the configured wake word chooses the default user


def test_put_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    book = PersonaBook(tmp_path, "default", DEFAULTS)
    work = persona(directives="brief", backoff=Backoff.WITH_MEMORIES, threshold=70)
    book.put(work)
    assert book.get("work") == work
    assert [p.name for p in book.all()] == ["personal", "work"]
    assert sorted(os.listdir(tmp_path)) == [PERSONAS_FILE]
    assert (tmp_path / PERSONAS_FILE).stat().st_mode & 0o077 == 0  # private to the owner
    book.remove("work")
    assert [p.name for p in book.all()] == ["personal"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / PERSONAS_FILE
    write_atomic(path, b"old")

    def power_cut(src: object, dst: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == [PERSONAS_FILE]  # the temp file was removed


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 1}', "expected"),
        ('{"version": 9, "personas": []}', "unsupported version"),
        ('{"version": 1, "personas": [{"name": "w"}]}', "missing field"),
        (
            '{"version": 1, "personas": [{"name": "w", "voice": "v", "model": "m", "x": 1}]}',
            "unknown field 'x'",
        ),
        (
            '{"version": 1, "personas": [{"name": "../w", "voice": "v", "model": "m"}]}',
            "bad or repeated persona name",
        ),
        (
            '{"version": 1, "personas": [{"name": "w", "voice": "v", "model": "m", '
            '"backoff": "always"}]}',
            "always",
        ),
    ],
)
def test_a_damaged_file_is_named_with_its_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / PERSONAS_FILE).write_text(content)
    with pytest.raises(UserError) as caught:
        PersonaBook(tmp_path, "default", DEFAULTS).all()
    assert str(tmp_path / PERSONAS_FILE) in str(caught.value)
    assert problem in str(caught.value)


# --- household rules -------------------------------------------------------------------------


def test_a_wake_word_wakes_one_persona_per_device(household: Household) -> None:
    household.create_persona("default", persona("work", "alexa"))
    with pytest.raises(UserError, match="already wakes persona 'work'"):
        household.create_persona("default", persona("hobby", "alexa"))
    with pytest.raises(UserError, match="already wakes persona 'personal'"):
        household.create_persona("default", persona("hobby", "hey_jarvis"))  # the implicit one
    household.add_user("bob")
    with pytest.raises(UserError, match="of user 'default'"):
        household.create_persona("bob", persona("work", "alexa"))  # across users too
    household.create_persona("bob", persona("work", None))  # no wake word: always fine
    household.create_persona("bob", persona("gym", None))


def test_edit_keeps_its_own_wake_word_and_frees_the_old_one(household: Household) -> None:
    household.create_persona("default", persona("work", "alexa"))
    edited = household.edit_persona("default", "work", lambda p: Persona(**p.to_dict()))
    assert edited.wake_word == "alexa"  # re-saving with its own wake word is no conflict
    household.edit_persona("default", "personal", lambda p: _with_wake(p, "hey_mycroft"))
    household.create_persona("default", persona("hobby", "hey_jarvis"))  # freed by personal
    assert household.persona("default", "personal").implicit is False


def _with_wake(p: Persona, wake: str | None) -> Persona:
    return Persona(**(p.to_dict() | {"wake_word": wake}))


def test_create_refuses_an_existing_name_and_an_unknown_user(household: Household) -> None:
    with pytest.raises(UserError, match="already exists"):
        household.create_persona("default", persona("personal", None))
    with pytest.raises(UserError, match="user add carol"):
        household.create_persona("carol", persona("work", None))
    assert not household.folder("carol").exists()


def test_the_default_persona_cannot_be_deleted(household: Household) -> None:
    with pytest.raises(UserError, match="cannot be deleted"):
        household.delete_persona("default", "personal")


# --- CLI ----------------------------------------------------------------------------------


def test_cli_create_list_show_edit_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(
            tmp_path,
            "persona",
            "create",
            "work",
            "--wake",
            "alexa",
            "--voice",
            "en_US-joe-medium",
            "--directives",
            "curious, asks one question back",
            "--model",
            "smollm2-135m-instruct",
            "--backoff",
            "without-memories",
            "--threshold",
            "60",
        )
        == 0
    )
    capsys.readouterr()
    assert run(tmp_path, "persona", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed] == ["personal", "work"]
    assert listed[1] == {
        "name": "work",
        "wake_word": "alexa",
        "voice": "en_US-joe-medium",
        "model": "smollm2-135m-instruct",
        "directives": "curious, asks one question back",
        "backoff": "without-memories",
        "threshold": 60,
        "implicit": False,
    }
    assert run(tmp_path, "persona", "edit", "work", "--threshold", "40", "--no-wake") == 0
    capsys.readouterr()
    assert run(tmp_path, "--persona", "work", "persona", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["threshold"], shown["wake_word"], shown["directives"]) == (
        40,
        None,
        "curious, asks one question back",
    )
    assert run(tmp_path, "persona", "delete", "work") == 0  # no memories: nothing to ask
    assert "deleted persona work" in capsys.readouterr().out
    assert run(tmp_path, "persona", "show", "work") == 2


@pytest.mark.parametrize(
    "args",
    [
        ["persona", "create", "work", "--wake", "siri"],
        ["persona", "create", "../work"],
        ["persona", "create", "personal"],
        ["persona", "edit", "work", "--threshold", "5"],  # no such persona
        ["persona", "edit", "personal"],  # nothing to change
        ["persona", "delete", "personal"],
        ["--persona", "a/b", "persona", "show"],
        ["--user", "nobody", "persona", "list"],
        ["persona", "create", "work\n"],
        ["--persona", "work\n", "persona", "show"],
    ],
)
def test_cli_bad_input_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert run(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("secondself: ") and err.count("\n") == 1


def test_a_persona_name_with_a_trailing_newline_is_refused_and_nothing_written(
    tmp_path: Path, household: Household, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UserError) as caught:
        household.create_persona("default", persona("work\n"))
    assert caught.value.code == "bad-name"
    assert run(tmp_path, "persona", "create", "work\n") == 2
    assert "invalid persona name 'work\\n'" in capsys.readouterr().err
    assert not (tmp_path / "users" / "default" / PERSONAS_FILE).exists()
    assert [p.name for p in household.book("default").all()] == ["personal"]


def _seed_personas(home: Path) -> dict[str, int]:
    Household(home, DEFAULTS, CATALOG).create_persona("default", persona("work", "alexa"))
    with MemoryStore.open(home / "users" / "default", HashEmbedder()) as store:
        return {
            "private": store.remember("the vault code is 9931", persona="work").id,
            "shared": store.remember(
                "the office is on floor 3", persona="work", visibility=Visibility.SHARED
            ).id,
            "personal": store.remember("my dog is Rex").id,
        }


def _texts(home: Path) -> list[str]:
    with MemoryStore.open(home / "users" / "default") as store:
        return sorted(m.text for m in store.iterate())


def test_delete_off_a_terminal_needs_a_choice_about_private_memories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed_personas(tmp_path)
    assert run(tmp_path, "persona", "delete", "work") == 2
    assert "--forget-memories or --keep-memories" in capsys.readouterr().err
    assert run(tmp_path, "persona", "show", "work") == 0  # nothing happened


def test_delete_keep_memories_keeps_them_hidden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed_personas(tmp_path)
    assert run(tmp_path, "persona", "delete", "work", "--keep-memories") == 0
    assert "kept its 1 private memories" in capsys.readouterr().out
    assert "the vault code is 9931" in _texts(tmp_path)
    with MemoryStore.open(tmp_path / "users" / "default") as store:
        from secondself.memory.model import SearchFilter

        seen = [m.text for m in store.recent(SearchFilter(persona="personal"), 50)]
    assert "the vault code is 9931" not in seen and "the office is on floor 3" in seen


def test_delete_forget_memories_forgets_private_and_keeps_shared(tmp_path: Path) -> None:
    _seed_personas(tmp_path)
    assert run(tmp_path, "persona", "delete", "work", "--forget-memories") == 0
    assert _texts(tmp_path) == ["my dog is Rex", "the office is on floor 3"]
    db = (tmp_path / "users" / "default").rglob("*")
    assert not any(b"9931" in p.read_bytes() for p in db if p.is_file())


@pytest.mark.parametrize(("answer", "left"), [(b"y\n", 2), (b"n\n", 3)])
def test_delete_on_a_terminal_asks_about_private_memories(
    tmp_path: Path, answer: bytes, left: int
) -> None:
    _seed_personas(tmp_path)
    rc, out = on_a_terminal(tmp_path, answer, "persona", "delete", "work")
    assert rc == 0, out
    assert "Forget the 1 private memories of persona work too? [y/N]" in out
    assert len(_texts(tmp_path)) == left
