"""Odd strings in an import (found by tests/fuzz): a JSONL string no store can hold is
refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from secondself.core.errors import UserError
from secondself.memory import importer

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
