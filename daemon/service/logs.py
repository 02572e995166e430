"""Logging for the daemon: journald's native protocol under systemd, plain lines otherwise.

Every record may carry structured fields, given as `extra={"stage": ..., "duration_s": ...,
"error_code": ..., "event": ...}`; under journald they become the fields STAGE, DURATION_S,
ERROR_CODE and EVENT (`journalctl -u secondself STAGE=stt -o verbose`), elsewhere they are
appended as key=value. `EventLogger` turns bus events into such records. What the user
said or asked to remember is logged only at DEBUG: above it, text fields are redacted.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Mapping
from typing import Any

from secondself.core.events import (
    AnswerDone,
    AnswerToken,
    DaemonReady,
    Event,
    Listening,
    MemoriesRetrieved,
    MemoryForgotten,
    MemorySaved,
    ModelLoaded,
    NothingHeard,
    Speaking,
    SpeechEnded,
    StageError,
    Transcript,
    WakeDetected,
)

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "secondself"
FIELDS = ("stage", "duration_s", "error_code", "event")  # the structured `extra` keys
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# syslog priorities, which journald stores in PRIORITY=
PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


def _priority(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return 2
    return next((p for lvl, p in sorted(PRIORITIES.items(), reverse=True) if levelno >= lvl), 7)


def structured(record: logging.LogRecord) -> dict[str, str]:
    """The structured fields a record carries (only those it was given)."""
    found: dict[str, str] = {}
    for key in FIELDS:
        value = getattr(record, key, None)
        if value is not None:
            found[key] = f"{value:.4f}" if isinstance(value, float) else str(value)
    return found


class KeyValueFormatter(logging.Formatter):
    """The plain format plus ` stage=stt duration_s=0.1234` for structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = structured(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


class JournalHandler(logging.Handler):
    """Sends each record to journald as one datagram of KEY=value fields (its native
    protocol, sd_journal_send's wire format), so fields stay queryable."""

    def __init__(self, path: str = JOURNAL_SOCKET, identifier: str = IDENTIFIER) -> None:
        super().__init__()
        self.path = path
        self.identifier = identifier
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._send_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            fields: dict[str, str] = {
                "MESSAGE": message,
                "PRIORITY": str(_priority(record.levelno)),
                "SYSLOG_IDENTIFIER": self.identifier,
                "LOGGER": record.name,
                "THREAD_NAME": record.threadName or "",
            }
            if getattr(record, "event", None) is None:
                # An event's record is written by EventLogger for whoever published it: its
                # code location (always logs.py) would only mislead; EVENT names it instead.
                fields["CODE_FILE"] = record.pathname
                fields["CODE_LINE"] = str(record.lineno)
                fields["CODE_FUNC"] = record.funcName
            fields.update({k.upper(): v for k, v in structured(record).items()})
            with self._send_lock:
                self._socket.sendto(encode_fields(fields), self.path)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._socket.close()
        super().close()


def encode_fields(fields: Mapping[str, str]) -> bytes:
    """journald's native format: KEY=value lines; a value with a newline is sent as KEY,
    newline, its length as 64-bit little-endian, the bytes, newline."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


def decode_fields(data: bytes) -> dict[str, str]:
    """The inverse of encode_fields (for tests)."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            pos = end + 1
        else:
            (size,) = struct.unpack("<Q", data[end + 1 : end + 9])
            fields[line.decode()] = data[end + 9 : end + 9 + size].decode()
            pos = end + 9 + size + 1
    return fields


def under_journald(environ: Mapping[str, str] | None = None) -> bool:
    """True when stderr is connected to the journal (systemd sets JOURNAL_STREAM=dev:inode)."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    if not stream:
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{stat.st_dev}:{stat.st_ino}"


def configure(level: str, journal: bool | None = None, journal_path: str = JOURNAL_SOCKET) -> None:
    """Replaces the root logger's handlers: journald's native socket when running under
    systemd (and it is reachable), else key=value lines on stderr."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    use_journal = under_journald() if journal is None else journal
    handler: logging.Handler
    if use_journal and os.path.exists(journal_path):
        handler = JournalHandler(journal_path)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter(FORMAT))
    root.addHandler(handler)
    set_level(level)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per cloud request


def set_level(level: str) -> None:
    """The root level by name (debug, info, warning, error); used again on reload."""
    logging.getLogger().setLevel(getattr(logging, level.upper()))


# -- events as log records ---------------------------------------------------------------------

# Where each event's stage and duration come from.
STAGES: dict[type[Event], str] = {
    WakeDetected: "wake",
    SpeechEnded: "vad",
    NothingHeard: "vad",
    Transcript: "stt",
    MemoriesRetrieved: "retrieval",
    AnswerDone: "answer",
    Speaking: "tts",
    MemorySaved: "memory",
    MemoryForgotten: "memory",
}
DURATIONS = ("seconds", "synth_s", "duration_s", "waited_s")
QUIET = (Listening,)  # DEBUG only: it comes with every turn
SKIPPED = (AnswerToken,)  # one per token: far too many for a log


class EventLogger:
    """A bus handler writing each event as one structured log record.

    Above DEBUG, private fields (what was said, memory text) are replaced by their length;
    with DEBUG on, the record carries the text and is itself logged at DEBUG, so text never
    reaches a priority above debug in the journal.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("secondself.core.events")

    def __call__(self, event: Event) -> None:
        if isinstance(event, SKIPPED) and not self.log.isEnabledFor(logging.DEBUG):
            return
        debug = self.log.isEnabledFor(logging.DEBUG)
        if isinstance(event, StageError):
            level = logging.ERROR
        elif isinstance(event, (*QUIET, *SKIPPED)) or (debug and event.private_fields):
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not self.log.isEnabledFor(level):
            return
        data = event.to_dict(redact=level > logging.DEBUG)
        data.pop("event")
        data.pop("t")
        text = " ".join(f"{k}={_short(v)}" for k, v in data.items())
        self.log.log(level, "%s %s", event.name, text, extra=self.fields(event))

    @staticmethod
    def fields(event: Event) -> dict[str, Any]:
        extra: dict[str, Any] = {"event": event.name}
        if isinstance(event, StageError):
            extra["stage"], extra["error_code"] = event.stage, event.code
        elif isinstance(event, ModelLoaded):
            extra["stage"] = event.role
        elif isinstance(event, DaemonReady):
            extra["stage"] = "start"
        elif type(event) in STAGES:
            extra["stage"] = STAGES[type(event)]
        for name in DURATIONS:
            value = getattr(event, name, None)
            if isinstance(value, float):
                extra["duration_s"] = value
                break
        return extra


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, str) and (" " in value or not value):
        return repr(value)
    return str(value)
