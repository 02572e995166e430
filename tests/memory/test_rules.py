"""Pure pieces of the memory store: supersede rule, fusion, FTS words, EXIF, chunking."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from secondself.core.errors import UserError
from secondself.memory import exif, fts, fusion, supersede, validate
from secondself.memory.filters import condition
from secondself.memory.importer import chunk_markdown
from secondself.memory.model import Kind, SearchFilter, Visibility
from tests.memory.test_support import tiny_jpeg

pytestmark = pytest.mark.unit

PAIRS = Path(__file__).parents[1] / "data" / "supersede_pairs.jsonl"


def labelled_pairs() -> list[dict[str, object]]:
    return [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("pair", labelled_pairs(), ids=lambda p: str(p["why"]))
def test_supersede_rule_on_the_labelled_set(pair: dict[str, object]) -> None:
    # The rule alone (similarity taken as high): the e2e test adds the real embedder.
    got = supersede.supersedes(str(pair["new"]), str(pair["old"]), similarity=1.0)
    assert got == pair["supersedes"]


def test_low_similarity_never_supersedes() -> None:
    assert not supersede.supersedes("my dog is called Rex", "my dog is called Biscuit", 0.1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Remember that my dog's name is Biscuit!", ("my dog", "name", "biscuit")),
        ("I'm living in Berlin", ("i", "lives", "berlin")),
        ("Sam works for Globex now", ("sam", "works", "globex")),
        ("the wifi password is hunter2", ("the wifi password", "is", "hunter2")),
        ("I like tea", None),
        ("my dog is old", None),
    ],
)
def test_statement_parser(text: str, expected: tuple[str, str, str] | None) -> None:
    parsed = supersede.parse(text)
    assert (
        None if parsed is None else (parsed.subject, parsed.relation, parsed.object)
    ) == expected


def test_rrf_fusion_recency_and_corrections() -> None:
    now = 1000 * fusion.DAY
    both = fusion.Candidate(id=1, vector_rank=2, bm25_rank=1, created=now)
    vector_only = fusion.Candidate(id=2, vector_rank=1, created=now)
    ranked = fusion.rank([vector_only, both], now)
    assert [c.id for c in ranked] == [1, 2]  # found by both lists beats first in one
    old = fusion.Candidate(id=3, vector_rank=1, created=0.0)
    new = fusion.Candidate(id=4, vector_rank=1, created=now)
    assert [c.id for c in fusion.rank([old, new], now)] == [4, 3]
    assert fusion.recency(fusion.RECENCY_HALF_LIFE_DAYS * fusion.DAY) == pytest.approx(0.5)
    target = fusion.Candidate(id=5, vector_rank=1, bm25_rank=1, created=now)
    fix = fusion.Candidate(id=6, vector_rank=30, is_correction=True, corrects=5, created=now)
    assert [c.id for c in fusion.rank([target, fix], now)] == [6, 5]


def test_fts_words_match_the_unicode61_tokenizer() -> None:
    assert fts.words('Café-owner\'s NEAR("x") 7:30 naïve_user') == [
        "cafe",
        "owner",
        "s",
        "near",
        "x",
        "7",
        "30",
        "naive",
        "user",
    ]


def test_persona_condition_is_always_present() -> None:
    sql, params = condition(SearchFilter(persona="work"), now=5.0)
    assert "(m.persona = ? OR m.visibility = 'shared')" in sql and params[0] == "work"
    sql, params = condition(
        SearchFilter(
            persona="work",
            visibility=Visibility.PRIVATE,
            kinds=(Kind.NOTE, Kind.IMAGE),
            since=1.0,
            until=2.0,
            include_superseded=True,
        ),
        now=5.0,
    )
    assert sql.startswith("(m.persona = ? AND m.visibility = 'private')")
    assert "valid_to" not in sql and params == ["work", "note", "image", 1.0, 2.0]


def test_validate_text() -> None:
    assert validate.clean_text("  hello \n") == "hello"
    with pytest.raises(UserError, match="empty"):
        validate.clean_text(" ")
    with pytest.raises(UserError, match="not UTF-8"):
        validate.decode_text(b"caf\xe9", "notes.txt")
    assert validate.decode_text("\ufeffhi".encode(), "x") == "hi"


def test_exif_reader() -> None:
    assert exif.taken_at(tiny_jpeg("2021:07:04 10:30:00")) == datetime(2021, 7, 4, 10, 30)
    assert exif.taken_at(tiny_jpeg()) is None
    assert exif.taken_at(b"\xff\xd8\xff\xe1\x00") is None  # truncated: no crash
    assert exif.taken_at(b"") is None


def test_markdown_chunks_keep_heading_and_line() -> None:
    text = "---\ntitle: x\n---\n# Garden\n\nTomatoes in the bed.\nWater daily.\n\n## Tools\nSecateurs on the nail.\n"
    assert chunk_markdown(text) == [
        (6, "Garden\nTomatoes in the bed.\nWater daily."),
        (10, "Tools\nSecateurs on the nail."),
    ]
    long = ". ".join(f"Sentence number {n} is here" for n in range(200))
    chunks = chunk_markdown(long)
    assert len(chunks) > 1 and all(len(c) <= 1500 for _, c in chunks)
