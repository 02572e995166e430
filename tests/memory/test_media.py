"""Media file names: an extension is a whole short word of a-z and 0-9, nothing more."""

from __future__ import annotations

import pytest

from secondself.core.errors import UserError
from secondself.memory import media

pytestmark = pytest.mark.unit


def test_a_plain_extension_names_a_content_addressed_file() -> None:
    rel = media.relative_path(b"photo", ".JPG")
    assert rel.startswith("media/") and rel.endswith(".jpg") and "\n" not in rel


@pytest.mark.parametrize("ext", ["png\n", "jp/g", "", "toolongext"])
def test_an_extension_that_is_not_one_word_is_refused(ext: str) -> None:
    with pytest.raises(UserError) as caught:
        media.relative_path(b"photo", ext)
    assert caught.value.code == "media-ext"
