"""Odd strings and names in an import (found by tests/fuzz): a JSONL string no store can
hold is refused, and a zip member with no name is left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secondself.core.errors import UserError
from secondself.memory import importer
from tests.memory.test_import_limits import Deflated, write_zip

pytestmark = pytest.mark.unit


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
