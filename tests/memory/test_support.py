"""Shared helpers for the memory tests: a deterministic fake Embedder and file scanning."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DIMS = 384
_WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Bag of hashed words (plus a little of the whole text), L2-normalised.

    Texts that share words are similar; the same text always gives the same vector.
    Good enough to test orchestration; the real model is tested in the e2e tests.
    """

    def __init__(self, name: str = "hash-384", dimensions: int = DIMS) -> None:
        self.name = name
        self.dimensions = dimensions
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()) or [text]:
                out[row] += _direction(word, self.dimensions)
            out[row] += 0.05 * _direction("\x00" + text, self.dimensions)
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-12)
        return out


def _direction(token: str, dims: int) -> NDArray[np.float32]:
    seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def files_containing(root: Path, needles: Sequence[bytes]) -> list[str]:
    """Every file under root (db, -wal, -shm, media, graph ...) holding any needle."""
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if any(n in data for n in needles):
                hits.append(str(path.relative_to(root)))
    return hits


def tiny_jpeg(taken: str | None = None, payload: bytes = b"") -> bytes:
    """A small JPEG-framed file with an optional EXIF DateTimeOriginal ("YYYY:MM:DD HH:MM:SS")."""
    segments = b""
    if taken is not None:
        segments += _app1_exif(taken.encode() + b"\x00")
    body = b"\xff\xdb\x00\x04\x00\x00" + payload  # a stand-in quantisation table segment
    return b"\xff\xd8" + segments + body + b"\xff\xd9"


def _app1_exif(stamp: bytes) -> bytes:
    import struct

    # little-endian TIFF: IFD0 with one entry (ExifIFD pointer), Exif IFD with one entry.
    ifd0 = 8
    exif_ifd = ifd0 + 2 + 12 + 4
    data_at = exif_ifd + 2 + 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", ifd0)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd) + b"\x00" * 4
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x9003, 2, len(stamp), data_at)
    tiff += b"\x00" * 4 + stamp
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
