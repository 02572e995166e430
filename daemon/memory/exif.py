"""The time a photo was taken, from its EXIF block: a tiny reader, no imaging library.

Reads JPEG APP1 "Exif" segments (and PNG eXIf chunks): DateTimeOriginal (0x9003) from the
Exif sub-IFD, else DateTime (0x0132) from IFD0. Returns None for anything it cannot read.
"""

from __future__ import annotations

import struct
from datetime import datetime

DATETIME_ORIGINAL = 0x9003
DATETIME = 0x0132
EXIF_IFD = 0x8769


def taken_time(data: bytes) -> float | None:
    """Unix time the photo was taken (its EXIF time read as local time), or None."""
    taken = taken_at(data)
    if taken is None:
        return None
    try:
        return taken.timestamp()
    except (ValueError, OverflowError, OSError):  # year 1: no local time to convert it by
        return None


def taken_at(data: bytes) -> datetime | None:
    """Naive local datetime the photo was taken, or None."""
    tiff = _tiff_block(data)
    if tiff is None:
        return None
    try:
        return _read_tiff(tiff)
    except (struct.error, ValueError, IndexError):
        return None


def _tiff_block(data: bytes) -> bytes | None:
    if data[:2] == b"\xff\xd8":  # JPEG: walk the segments up to the image data
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker in (0xD9, 0xDA):  # end of image / start of scan
                return None
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            body = data[pos + 4 : pos + 2 + length]
            if marker == 0xE1 and body[:6] == b"Exif\x00\x00":
                return body[6:]
            pos += 2 + length
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            if kind == b"eXIf":
                return data[pos + 8 : pos + 8 + length]
            if kind == b"IEND":
                return None
            pos += 12 + length
    return None


def _read_tiff(tiff: bytes) -> datetime | None:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    entries = _entries(tiff, order, ifd0)
    if EXIF_IFD in entries:
        sub = _entries(tiff, order, _long(tiff, order, entries[EXIF_IFD]))
        if DATETIME_ORIGINAL in sub:
            return _datetime(tiff, order, sub[DATETIME_ORIGINAL])
    if DATETIME in entries:
        return _datetime(tiff, order, entries[DATETIME])
    return None


def _entries(tiff: bytes, order: str, offset: int) -> dict[int, int]:
    """tag -> offset of its 12-byte directory entry."""
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    found = {}
    for i in range(min(count, 512)):
        entry = offset + 2 + 12 * i
        (tag,) = struct.unpack(order + "H", tiff[entry : entry + 2])
        found[tag] = entry
    return found


def _long(tiff: bytes, order: str, entry: int) -> int:
    (value,) = struct.unpack(order + "I", tiff[entry + 8 : entry + 12])
    return int(value)


def _datetime(tiff: bytes, order: str, entry: int) -> datetime | None:
    _tag, kind, count = struct.unpack(order + "HHI", tiff[entry : entry + 8])
    if kind != 2 or count < 19:  # ASCII "YYYY:MM:DD HH:MM:SS\0"
        return None
    start = _long(tiff, order, entry)
    text = tiff[start : start + 19].decode("ascii")
    return datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
