"""The daemon's start keeps the data home private: every folder 0700, every file 0600."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from secondself.core.paths import PRIVATE_UMASK

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Repair:
    fixed: int  # folders and files that others could read, now private
    refused: int  # ones whose mode could not be changed (another owner's)


def keep_home_private(home: Path) -> Repair:
    """From now on this process makes only private files; and the ones an earlier start
    made under a looser umask (0755 folders, 0644 files) are made private, in one log line."""
    os.umask(PRIVATE_UMASK)
    repair = repair_modes(home)
    if repair.fixed or repair.refused:
        refused = f"; {repair.refused} could not be changed" if repair.refused else ""
        log.warning(
            "data home %s: %d folders and files were readable by others, now 0700/0600%s",
            home,
            repair.fixed,
            refused,
        )
    return repair


def repair_modes(home: Path) -> Repair:
    """Set `home` and every folder under it to 0700 and every file to 0600."""
    fixed = refused = 0
    if not home.is_dir():
        return Repair(0, 0)
    for path in [home.resolve(), *_entries(home)]:  # a linked home: the folder it names
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                wanted = FOLDER_MODE
            elif stat.S_ISREG(mode):
                wanted = FILE_MODE
            else:
                continue  # a link (its target is not ours to change), a socket, a pipe
            if stat.S_IMODE(mode) != wanted:
                os.chmod(path, wanted)
                fixed += 1
        except FileNotFoundError:
            continue  # removed while we looked (a store closing its -wal)
        except OSError:
            refused += 1
    return Repair(fixed, refused)


def _entries(home: Path) -> list[Path]:
    """Every folder and file below `home`, not descending into linked folders."""
    found: list[Path] = []
    for folder, folders, files in os.walk(home):
        found += [Path(folder, name) for name in (*folders, *files)]
    return found
