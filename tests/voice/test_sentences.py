from __future__ import annotations

import pytest

from secondself.voice.sentences import SentenceSplitter, split_stream

pytestmark = pytest.mark.unit


def tokens(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_sentences_come_out_as_soon_as_they_end() -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    for piece in tokens("Your dog is called Biscuit. You told me on Monday. "):
        out.extend(splitter.feed(piece))
        if out:
            break
    assert out == ["Your dog is called Biscuit."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Your dog is called Biscuit. He is three years old.",
            ["Your dog is called Biscuit.", "He is three years old."],
        ),
        (
            "Dr. Smith lives at 3.5 Main St. in town. Really!",
            ["Dr. Smith lives at 3.5 Main St. in town.", "Really!"],
        ),
        ("Yes. Your dog is called Biscuit.", ["Yes. Your dog is called Biscuit."]),
        ("Is it? I think so! Great.", ["Is it? I think so!", "Great."]),
        ("First line of text\nsecond line here", ["First line of text", "second line here"]),
        ("no terminator at the end", ["no terminator at the end"]),
        ("", []),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    assert list(split_stream(tokens(text))) == expected
    assert list(split_stream([text])) == expected
