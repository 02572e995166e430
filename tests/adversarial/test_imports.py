"""Imports into the running daemon's data home, made by an attacker: bombs that took
gigabytes (finding 3), links out of a folder (5), times no clock can show (6), an import
killed part-way and run again (12), and archive members with `../`, absolute names,
links and device nodes. Each is refused in one line, or imports only what the archive or
folder itself holds: nothing from outside it, nothing written outside the data home."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from secondself.voice.virtual_soundcard import VirtualSoundCard
from tests.adversarial.daemon import Daemon, cli
from tests.adversarial.planted import (
    WORK_WORDS,
    copy_household,
    files_holding,
    jsonl,
    leaked,
    rows,
    state,
)
from tests.memory.test_import_limits import (
    PEAK_RSS,
    Deflated,
    MiB,
    folder_of_sparse_photos,
    import_in_a_child,
    member_six_times,
    sparse_tar,
    write_zip,
    zip_of_spaces,
)
from tests.memory.test_support import tiny_jpeg

pytestmark = [pytest.mark.adversarial, pytest.mark.e2e]

OUTSIDE = "canary-outside-8841 the vault code is 5150"  # a file the importer must not read


@pytest.fixture(scope="module")
def daemon(
    soundcard: VirtualSoundCard, household: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("imports")
    copy_household(household, home)
    with Daemon.running(home) as running:
        yield running


@pytest.fixture
def outside(daemon: Daemon) -> Path:
    """A secret beside the data home, where a link in an import can point."""
    secret = daemon.data.parent / "outside-secret.txt"
    secret.write_text(OUTSIDE)
    return secret


def around(daemon: Daemon) -> list[tuple[str, int]]:
    """Every file beside the data home (not in it), with its size: what an import must
    not write to."""
    top = daemon.data.parent
    return sorted(
        (str(p.relative_to(top)), p.lstat().st_size)
        for p in top.rglob("*")
        if not p.is_relative_to(daemon.data) and p.name not in ("daemon.stderr", "events.jsonl")
    )


def assert_listings_work(daemon: Daemon) -> None:
    """The page and the CLI still list every memory, in standard JSON."""
    reply = daemon.request("GET", "/api/memories?limit=100")
    assert reply.status == 200 and reply.json()["memories"]
    assert cli(daemon.data, "memories", "--limit", "100", "--json").code == 0


# --- bombs (finding 3) -------------------------------------------------------------------------


def zip_bomb(folder: Path) -> Path:
    """A 1 MiB zip: a photo that unpacks to a GiB, named by one memory."""
    records = Deflated(jsonl([{"text": "a photo", "media": "media/big.jpg"}]).encode())
    write_zip(folder / "bomb.zip", [("memories.jsonl", records), ("media/big.jpg",
              Deflated(b"\0" * MiB, 1024))])  # fmt: skip
    return folder / "bomb.zip"


BOMBS: dict[str, Callable[[Path], Path]] = {
    "sparse-tar": sparse_tar,
    "zip-of-spaces": zip_of_spaces,
    "member-six-times": member_six_times,
    "zip-bomb": zip_bomb,
    "sparse-photos": folder_of_sparse_photos,
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_bomb_is_refused_in_one_line_and_little_memory(
    daemon: Daemon, tmp_path: Path, bomb: str
) -> None:
    path = BOMBS[bomb](tmp_path)
    before = state(daemon.data)
    code, stderr, peak = import_in_a_child(daemon.data, path)
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert peak < PEAK_RSS, f"peak RSS {peak / MiB:.0f} MiB"
    assert state(daemon.data) == before and daemon.alive()


# --- links out of a folder (finding 5) --------------------------------------------------------

LINKS = {
    "a-note": ("innocent.txt", "../outside-secret.txt"),
    "a-photos-caption": ("IMG_0001.txt", "{outside}"),
    "a-folder": ("more", "{folder}"),
    "a-loop": ("loop.md", "loop.md"),
}


@pytest.mark.parametrize("link", LINKS)
def test_a_folder_import_reads_no_link_out_of_it(
    daemon: Daemon, outside: Path, tmp_path: Path, link: str
) -> None:
    notes = daemon.data.parent / f"notes-{link}"
    notes.mkdir()
    (notes / "garden.md").write_text(f"The roses by the shed need water ({link})")
    (notes / "IMG_0001.jpg").write_bytes(tiny_jpeg())
    private = tmp_path / "private"
    private.mkdir()
    (private / "diary.md").write_text(OUTSIDE)
    name, target = LINKS[link]
    (notes / name).symlink_to(target.format(outside=outside, folder=private))
    run = cli(daemon.data, "import", str(notes))
    assert run.code == 0, run.err
    assert "skipped 1 link" in run.err and name in run.err
    assert files_holding(daemon.data, ["canary-outside-8841", "5150"]) == []
    assert "roses by the shed" in str([r.text for r in rows(daemon.data)])


# --- times no clock can show (finding 6) ------------------------------------------------------

BAD_TIMES = ["Infinity", "-Infinity", "NaN", "1e300", "-1", '"0001-01-01"', '"9999-12-31"',
             '"2024-02-30"', "1e20"]  # fmt: skip


@pytest.mark.parametrize("field", ["created", "valid_to"])
@pytest.mark.parametrize("when", BAD_TIMES)
def test_a_time_no_clock_can_show_is_refused(
    daemon: Daemon, tmp_path: Path, when: str, field: str
) -> None:
    """`"created": Infinity` broke every listing (OverflowError, non-standard JSON)."""
    path = tmp_path / "times.jsonl"
    path.write_text('{"text": "a fine note"}\n' + f'{{"text": "when?", "{field}": {when}}}\n')
    before = state(daemon.data)
    cli(daemon.data, "import", str(path)).assert_one_line_error()
    assert state(daemon.data) == before
    assert_listings_work(daemon)


# --- an import killed part-way, run again (finding 12) ----------------------------------------

NOTES = 800


def test_an_import_killed_part_way_and_run_again_saves_each_once(
    daemon: Daemon, tmp_path: Path
) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text(jsonl({"text": f"killed import note {n}"} for n in range(NOTES)))
    command = [sys.executable, "-m", "secondself", "--home", str(daemon.data), "import", str(path)]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while saved(daemon) == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # a power cut, part-way
    child.wait()
    assert 0 < saved(daemon) < NOTES, "not part-way: make the import longer"
    again = cli(daemon.data, "import", str(path))
    assert again.code == 0, again.err
    texts = [r.text for r in rows(daemon.data) if r.text.startswith("killed import note")]
    assert len(texts) == len(set(texts)) == NOTES


def saved(daemon: Daemon) -> int:
    return sum(r.text.startswith("killed import note") for r in rows(daemon.data))


# --- archive members --------------------------------------------------------------------------


Member = tuple[tarfile.TarInfo, io.BytesIO]


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), link
    info.devmajor, info.devminor = 1, 1  # /dev/mem, for a device node
    return info, io.BytesIO(data)


def tar_of(
    path: Path, media: str, members: list[Member], records_name: str = "memories.jsonl"
) -> Path:
    records = jsonl([{"text": f"a photo from {media}", "media": media}]).encode()
    with tarfile.open(path, "w:gz") as tf:
        if records_name:
            tf.addfile(*member(records_name, data=records))
        for info, data in members:
            tf.addfile(info, data)
    return path


def zip_of(path: Path, media: str, entry: zipfile.ZipInfo, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("memories.jsonl", jsonl([{"text": "a zipped photo", "media": media}]))
        zf.writestr(entry, data)
    return path


def zip_symlink(name: str) -> zipfile.ZipInfo:
    """A zip entry marked as a link: unzip would make a link to what its data names."""
    entry = zipfile.ZipInfo(name)
    entry.create_system = 3  # unix: the mode bits say "symbolic link"
    entry.external_attr = (stat.S_IFLNK | 0o777) << 16
    return entry


def archive_attack(attack: str, folder: Path, outside: Path) -> Path:
    photo = tiny_jpeg(payload=b"pwned")
    path = folder / "attack.tar.gz"
    if attack == "dotdot-member":
        return tar_of(path, "../../pwned.jpg", [member("../../pwned.jpg", data=photo)])
    if attack == "absolute-member":
        name = str(folder / "absolute-pwned.jpg")
        return tar_of(path, name, [member(name, data=photo)])
    if attack == "symlink-member":
        return tar_of(
            path, "media/a.jpg", [member("media/a.jpg", tarfile.SYMTYPE, link=str(outside))]
        )
    if attack == "hard-link-member":
        return tar_of(
            path, "media/a.jpg", [member("media/a.jpg", tarfile.LNKTYPE, link=str(outside))]
        )
    if attack in ("char-device", "block-device", "fifo"):
        kind = {
            "char-device": tarfile.CHRTYPE,
            "block-device": tarfile.BLKTYPE,
            "fifo": tarfile.FIFOTYPE,
        }
        return tar_of(path, "media/a.jpg", [member("media/a.jpg", kind[attack])])
    if attack == "jsonl-as-a-link":
        records = folder / "records.jsonl"
        records.write_text(jsonl([{"text": OUTSIDE}]))
        return tar_of(path, "", [member("memories.jsonl", tarfile.SYMTYPE, link=str(records))],
                      records_name="")  # fmt: skip
    if attack == "zip-dotdot-member":
        return zip_of(
            folder / "attack.zip", "../../pwned.jpg", zipfile.ZipInfo("../../pwned.jpg"), photo
        )
    assert attack == "zip-symlink-member"
    return zip_of(
        folder / "attack.zip", "media/a.jpg", zip_symlink("media/a.jpg"), str(outside).encode()
    )


ARCHIVE_ATTACKS = ["dotdot-member", "absolute-member", "symlink-member", "hard-link-member",
                   "char-device", "block-device", "fifo", "jsonl-as-a-link", "zip-dotdot-member",
                   "zip-symlink-member"]  # fmt: skip


@pytest.mark.parametrize("attack", ARCHIVE_ATTACKS)
def test_an_archive_member_reaches_nothing_outside_the_archive(
    daemon: Daemon, outside: Path, tmp_path: Path, attack: str
) -> None:
    path = archive_attack(attack, tmp_path, outside)
    beside = around(daemon)
    run = cli(daemon.data, "import", str(path))
    if run.code != 0:
        run.assert_one_line_error()
    assert around(daemon) == beside and not (tmp_path / "absolute-pwned.jpg").exists()
    assert files_holding(daemon.data, ["canary-outside-8841"]) == []
    for found in daemon.data.rglob("*"):  # only folders and plain files: no link, no device
        mode = found.lstat().st_mode
        assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), found
    assert leaked(run.out + run.err, WORK_WORDS) == []


def test_the_listing_is_standard_json_after_all_that(daemon: Daemon) -> None:
    assert_listings_work(daemon)
    reply = daemon.request("GET", "/api/conversations?limit=50")
    assert reply.status == 200
    json.loads(reply.body, parse_constant=lambda name: pytest.fail(f"non-standard {name}"))
    assert os.path.isdir(daemon.data) and daemon.alive()
