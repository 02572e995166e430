"""Odd names and strings in an import (found by tests/fuzz): a file name that is not UTF-8
is imported under an escaped name, a name with a line break is named in one line, a JSONL
string no store can hold is refused, and a zip member with no name is left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from secondself.core.errors import UserError
from secondself.memory import importer
from secondself.memory.store import MemoryStore
from tests.memory.test_import_limits import Deflated, write_zip
from tests.memory.test_support import HashEmbedder, tiny_jpeg

pytestmark = pytest.mark.unit


def test_a_file_name_that_is_not_utf8_is_imported_under_an_escaped_name(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    with open(os.path.join(os.fsencode(notes), b"caf\xe9.md"), "wb") as f:
        f.write(b"the shed key is blue")
    with open(os.path.join(os.fsencode(notes), b"\xff.jpg"), "wb") as f:
        f.write(tiny_jpeg())
    todo = importer.plan(notes, "personal")
    with MemoryStore.open(tmp_path / "user", HashEmbedder()) as store:
        importer.run(store, todo)
        saved = sorted((m.provenance, m.text) for m in store.iterate())
    assert saved == [("\\xff.jpg", "photo \\xff.jpg"), ("caf\\xe9.md:1", "the shed key is blue")]


def test_a_file_name_with_a_line_break_is_named_in_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "bad\nname\x1b[2J.md").write_bytes(b"\xff not UTF-8")
    with pytest.raises(UserError) as refused:
        importer.plan(notes, "personal")
    assert refused.value.message == (
        "bad\\nname\\x1b[2J.md is not UTF-8 text (bad byte at offset 0); nothing was imported"
    )


def test_a_jsonl_string_no_store_can_hold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps({"text": "a note"}) + "\n" + '{"text": "b", "provenance": "\\ud800"}\n'
    )
    with pytest.raises(UserError) as refused:
        importer.plan(path, "personal")
    assert refused.value.code == "text-not-unicode"
    assert refused.value.message == (
        f'{path}:2: the "provenance" text is not valid Unicode (a lone surrogate at character 0)'
    )


def test_a_zip_member_with_no_name_is_left_alone(tmp_path: Path) -> None:
    """zipfile cuts a name at its first NUL: "\\0x" reads back as a member named ""."""
    records = json.dumps({"text": "the gate code is 4411"}).encode() + b"\n"
    members = [("\0x", Deflated(b"anything")), (importer.JSONL_NAME, Deflated(records))]
    write_zip(tmp_path / "export.zip", members)
    todo = importer.plan(tmp_path / "export.zip", "personal")
    assert [item.text for item in todo.items] == ["the gate code is 4411"]
