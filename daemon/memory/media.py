"""Content-addressed media next to the database: <user_dir>/media/<sha[:2]>/<sha>.<ext>."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from secondself.core.errors import Stage, UserError
from secondself.core.paths import private_dir
from secondself.memory.model import MediaInput

MEDIA_DIR = "media"
MAX_BYTES = 64 * 1024 * 1024
_EXT = re.compile(r"[a-z0-9]{1,8}")
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic"})


def relative_path(data: bytes, ext: str) -> str:
    ext = ext.lower().lstrip(".")
    if not _EXT.fullmatch(ext):
        raise UserError("media-ext", f"unsupported media file extension {ext!r}", Stage.MEMORY)
    digest = hashlib.sha256(data).hexdigest()
    return f"{MEDIA_DIR}/{digest[:2]}/{digest}.{ext}"


def write(user_dir: Path, media: MediaInput) -> tuple[str, bool]:
    """Store the bytes durably; returns (relative path, whether the file is new)."""
    if not media.data:
        raise UserError("media-empty", "the media file is empty", Stage.MEMORY)
    if len(media.data) > MAX_BYTES:
        raise UserError(
            "media-too-big",
            f"the media file is {len(media.data):,} bytes, the limit is {MAX_BYTES:,}",
            Stage.MEMORY,
        )
    rel = relative_path(media.data, media.ext)
    path = user_dir / rel
    if path.is_file():
        return rel, False  # same content already stored: content addressing dedupes
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(media.data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return rel, True


def remove(user_dir: Path, rel: str) -> bool:
    """Delete a media file (and its now-empty shard folder); False if it was not there."""
    path = user_dir / rel
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):  # other files still share the shard folder
        path.parent.rmdir()
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
