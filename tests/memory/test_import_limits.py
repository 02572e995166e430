"""Imports read within limits: bombs are refused at their headers, in little memory.

The bombs are made at test time, small on disk: sparse files, and deflate streams of one
flushed block repeated (a MiB of one byte packs to about a KiB, and a repeat costs no time).
"""

from __future__ import annotations

import io
import json
import re
import struct
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from secondself.core.errors import UserError
from secondself.memory import importer
from secondself.memory.limits import Limits
from tests.support.peak import run_with_peak

pytestmark = pytest.mark.unit

MiB = 1024 * 1024
PEAK_RSS = 200 * MiB  # a refused import stays near the CLI's own ~90 MB


class Deflated:
    """Raw deflate data of `block` repeated `times`, with its CRC-32 and size."""

    def __init__(self, block: bytes, times: int = 1) -> None:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        # After a full flush nothing refers back, so the packed block can simply repeat.
        packed = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        self.data = packed * times + packer.flush()
        self.size = len(block) * times
        self.crc = 0
        for _ in range(times):
            self.crc = zlib.crc32(block, self.crc)


def write_zip(path: Path, members: Sequence[tuple[str, Deflated]]) -> None:
    """A zip of deflated members, written by hand: zipfile would deflate them itself."""
    local, central = b"", b""
    for name, member in members:
        sizes = struct.pack("<3L", member.crc, len(member.data), member.size)
        head = struct.pack("<5H", 20, 0, zipfile.ZIP_DEFLATED, 0, 0x21) + sizes
        central += struct.pack("<4sH", b"PK\x01\x02", 20) + head
        central += struct.pack("<5HLL", len(name), 0, 0, 0, 0, 0, len(local)) + name.encode()
        local += b"PK\x03\x04" + head + struct.pack("<2H", len(name), 0) + name.encode()
        local += member.data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0)  # fmt: skip
    path.write_bytes(local + central + end)


def tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.GNU_FORMAT)


def write_tar_gz(path: Path, members: Sequence[tuple[str, bytes, int]]) -> None:
    """A .tar.gz of members, each `block` repeated `times` (a block a multiple of 512)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, size = [], 0, 0

    def add(block: bytes, times: int = 1) -> None:
        nonlocal crc, size
        out.append((packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)) * times)
        for _ in range(times):
            crc = zlib.crc32(block, crc)
        size += len(block) * times

    for name, block, times in members:
        add(tar_header(name, len(block) * times))
        add(block, times)
        add(b"\0" * (-len(block) * times % 512))
    add(b"\0" * 1024)  # the end of the archive
    gz = b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + b"".join(out) + packer.flush()
    path.write_bytes(gz + struct.pack("<2L", crc, size % 2**32))


def write_sparse_tar(path: Path, real_size: int) -> None:
    """A 10 KiB tar whose one (GNU sparse) member unpacks to `real_size` bytes of zeros."""
    info = tarfile.TarInfo(importer.JSONL_NAME)
    info.size = 512  # the bytes stored: one block of data, the rest is a hole
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[386:410] = b"%011o\0%011o\0" % (0, 512)  # one piece of data, at offset 0
    header[483:495] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    path.write_bytes(bytes(header) + b"\0" * 512 + b"\0" * (10240 - 1024))


def jsonl(*records: dict[str, object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def import_in_a_child(home: Path, path: Path) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in bytes) of `secondself import PATH` in a child (its
    own peak: not this test process's, which a fork would carry into it)."""
    return run_with_peak(
        [sys.executable, "-m", "secondself", "--home", str(home), "import", str(path)]
    )


def sparse_tar(folder: Path) -> Path:
    write_sparse_tar(folder / "sparse.tar", 512 * MiB)
    return folder / "sparse.tar"


def zip_of_spaces(folder: Path) -> Path:
    """The JSONL of a 500 KiB zip: 512 MiB of spaces, no line break."""
    write_zip(folder / "spaces.zip", [(importer.JSONL_NAME, Deflated(b" " * MiB, 512))])
    return folder / "spaces.zip"


def member_six_times(folder: Path) -> Path:
    """Six memories of one 256 MiB photo."""
    records = jsonl(*({"text": f"photo {n}", "media": "media/big.jpg"} for n in range(6)))
    members = [(importer.JSONL_NAME, records, 1), ("media/big.jpg", b"\0" * MiB, 256)]
    write_tar_gz(folder / "six.tar.gz", members)
    return folder / "six.tar.gz"


def folder_of_sparse_photos(folder: Path) -> Path:
    """24 photos of 45 MiB, each under the limit for a file, over 1 GiB in all."""
    photos = folder / "photos"
    photos.mkdir()
    for n in range(24):
        with (photos / f"IMG_{n:04}.jpg").open("wb") as f:
            f.write(b"\xff\xd8")
            f.truncate(45 * MiB)
    return photos


@pytest.mark.parametrize(
    ("bomb", "message"),
    [
        (sparse_tar, "over 52,428,800 bytes, the import limit for one file"),
        (zip_of_spaces, "over 52,428,800 bytes, the import limit for one file"),
        (member_six_times, r"media/big\.jpg is over 67,108,864 bytes"),
        (folder_of_sparse_photos, "over 1,073,741,824 bytes in all"),
    ],
)
def test_a_bomb_is_refused_in_one_line_and_little_memory(
    tmp_path: Path, bomb: Callable[[Path], Path], message: str
) -> None:
    path = bomb(tmp_path)
    assert sum(p.stat().st_blocks * 512 for p in tmp_path.rglob("*") if p.is_file()) < MiB
    code, stderr, peak = import_in_a_child(tmp_path / "home", path)
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert "nothing was imported" in stderr
    assert re.search(message, stderr), stderr
    assert peak < PEAK_RSS, f"peak RSS {peak / MiB:.0f} MiB"
    assert not (tmp_path / "home" / "users").exists()  # no store was even opened


def test_a_jsonl_line_over_the_limit_is_refused_in_a_file_and_in_an_archive(
    tmp_path: Path,
) -> None:
    lines = jsonl({"text": "a note"}) + b" " * (2 * MiB) + b"\n"  # 2 MiB of nothing, line 2
    (tmp_path / "m.jsonl").write_bytes(lines)
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:  # stored: it does not unpack
        zf.writestr(importer.JSONL_NAME, lines)
    with tarfile.open(tmp_path / "m.tar", "w") as tf:
        info = tarfile.TarInfo(importer.JSONL_NAME)
        info.size = len(lines)
        tf.addfile(info, io.BytesIO(lines))
    for name in ("m.jsonl", "m.zip", "m.tar"):
        with pytest.raises(UserError, match=r":2: the line is over 1,048,576 bytes") as err:
            importer.plan(tmp_path / name, "personal")
        assert "\n" not in str(err.value)


def test_a_member_read_by_many_memories_is_read_once(tmp_path: Path) -> None:
    records = jsonl(*({"text": f"photo {n}", "media": "media/a.jpg"} for n in range(6)))
    members = [(importer.JSONL_NAME, records, 1), ("media/a.jpg", b"\xff\xd8" * 1024, 1024)]
    write_tar_gz(tmp_path / "six.tar.gz", members)
    todo = importer.plan(tmp_path / "six.tar.gz", "personal", Limits(total_bytes=3 * MiB))
    assert [len(it.media.data) for it in todo.items if it.media] == [2 * MiB] * 6


def test_too_many_members_are_refused_before_they_are_read(tmp_path: Path) -> None:
    few = Limits(members=3)
    folder = tmp_path / "notes"
    folder.mkdir()
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf, tarfile.open(tmp_path / "m.tgz", "w:gz") as tf:  # fmt: skip
        for n in range(4):
            (folder / f"{n}.md").write_text(f"note {n}")
            zf.write(folder / f"{n}.md", f"{n}.md")
            tf.add(folder / f"{n}.md", f"{n}.md")
    for path in (folder, tmp_path / "m.zip", tmp_path / "m.tgz"):
        with pytest.raises(UserError, match="holds over 3 files, the import limit"):
            importer.plan(path, "personal", few)


def test_a_zip_file_list_too_long_is_refused_before_zipfile_reads_it(tmp_path: Path) -> None:
    # zipfile holds ~430 bytes for each entry of the list, and reads as many as the list's
    # size says; this one claims one entry in 64 KiB, the rest not even entries.
    write_zip(tmp_path / "m.zip", [(importer.JSONL_NAME, Deflated(jsonl({"text": "x"})))])
    data = bytearray((tmp_path / "m.zip").read_bytes())
    end = data[-22:]
    listed_at = struct.unpack_from("<L", end, 16)[0]
    end[12:16] = struct.pack("<L", len(data) - 22 - listed_at + 65536)
    (tmp_path / "m.zip").write_bytes(bytes(data[:-22]) + b"\0" * 65536 + bytes(end))
    with pytest.raises(UserError, match="holds over 100 files"):  # 100 x 128 B of list
        importer.plan(tmp_path / "m.zip", "personal", Limits(members=100))


def test_an_archive_that_unpacks_too_far_is_refused_at_its_header(tmp_path: Path) -> None:
    spaces = b" " * MiB  # 20 MiB, under every other limit, from a 20 KiB archive
    write_tar_gz(tmp_path / "far.tar.gz", [(importer.JSONL_NAME, spaces, 20)])
    with pytest.raises(UserError, match="unpacks to over 100 times the archive's size"):
        importer.plan(tmp_path / "far.tar.gz", "personal")


def test_a_tar_header_that_claims_megabytes_is_refused(tmp_path: Path) -> None:
    note = jsonl({"text": "a note"})
    with tarfile.open(tmp_path / "pax.tar", "w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo(importer.JSONL_NAME)
        info.size = len(note)
        info.pax_headers = {"comment": "x" * (2 * MiB)}  # read whole by tarfile
        tf.addfile(info, io.BytesIO(note))
    with pytest.raises(UserError, match="a tar header claims 2,09"):
        importer.plan(tmp_path / "pax.tar", "personal")


def _zip_of(path: Path, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr(importer.JSONL_NAME, data)
    return path.read_bytes()


def encrypted_zip(path: Path) -> None:
    data = bytearray(_zip_of(path, jsonl({"text": "a note"})))
    for at in (6, data.rindex(b"PK\x01\x02") + 8):  # the flag bits, local and central
        data[at] |= 0x1
    path.write_bytes(bytes(data))


def garbled_zip(path: Path) -> None:
    data = bytearray(_zip_of(path, jsonl(*({"text": f"note {n}"} for n in range(200)))))
    data[60:80] = b"\xff" * 20  # inside the deflate stream of the only member
    path.write_bytes(bytes(data))


def cut_tar_gz(path: Path) -> None:
    write_tar_gz(path, [(importer.JSONL_NAME, jsonl({"text": "a note"}), 100)])
    path.write_bytes(path.read_bytes()[:-40])


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (encrypted_zip, "m.zip", "memories.jsonl is encrypted"),
        (garbled_zip, "m.zip", "not a readable archive"),
        (cut_tar_gz, "m.tar.gz", "not a readable archive"),
    ],
)
def test_a_broken_archive_is_one_line(
    tmp_path: Path, make: Callable[[Path], None], name: str, message: str
) -> None:
    make(tmp_path / name)
    with pytest.raises(UserError, match=message) as err:
        importer.plan(tmp_path / name, "personal")
    assert "\n" not in str(err.value)
