"""Personas: the faces of one user (personal, work ...), each with its own wake word, voice,
personality directives, answer model, backoff policy and private memories.

A user's personas live in `<user dir>/personas.json`, replaced atomically (temp file, fsync,
rename, fsync of the folder), so a crash leaves the old file or the new one, never half.
The persona "personal" exists without being written: until it is edited, its settings are
the config's (`wake.model`, `tts.voice`, `llm.model`).

Which memories a persona sees is not decided here: the store's SQL filter gives a persona
its own memories and the shared ones (`secondself.memory.filters`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from secondself.answer.backoff import BackoffPolicy
from secondself.core.config import WAKE_MODELS, Config
from secondself.core.errors import UserError
from secondself.core.names import check_name
from secondself.core.paths import private_dir
from secondself.weights.manifest import Manifest

Backoff = BackoffPolicy  # a persona's policy is the cloud client's: one enum, not two

PERSONAS_FILE = "personas.json"
FORMAT_VERSION = 1
DEFAULT_PERSONA = "personal"
DEFAULT_USER = "default"
# The personal score below which the persona's backoff policy applies. On the labelled set
# (scripts/eval_quality.py) every grounded answer whose memory was recalled scores >= 72,
# and 60 flags two thirds of the ungrounded ones.
DEFAULT_THRESHOLD = 60
MAX_DIRECTIVES = 400  # they go into every prompt: a small model's context is short
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    wake_word: str | None  # None: reached by --persona or the button, not by voice
    voice: str  # a piper voice in the manifest, or a path to a .onnx voice
    model: str  # an answer model in the manifest, or a path to a .gguf
    directives: str = ""  # personality, added to the answer model's instructions
    backoff: Backoff = Backoff.NEVER
    threshold: int = DEFAULT_THRESHOLD  # 0-100
    implicit: bool = False  # the default persona, not (yet) written to the file

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wake_word": self.wake_word,
            "voice": self.voice,
            "model": self.model,
            "directives": self.directives,
            "backoff": str(self.backoff),
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str) -> Persona:
        """A persona as stored; UserError naming the file and the field when it is wrong."""
        known = {"name", "wake_word", "voice", "model", "directives", "backoff", "threshold"}
        if unknown := sorted(set(data) - known):
            raise _corrupt(origin, f"unknown field {unknown[0]!r}")
        try:
            name, voice, model = (_text(data, k) for k in ("name", "voice", "model"))
            wake = data.get("wake_word")
            directives = data.get("directives", "")
            threshold = data.get("threshold", DEFAULT_THRESHOLD)
            if wake is not None and not isinstance(wake, str):
                raise ValueError("wake_word must be a string or null")
            if not isinstance(directives, str):
                raise ValueError("directives must be a string")
            if not isinstance(threshold, int) or isinstance(threshold, bool):
                raise ValueError("threshold must be an integer")
            backoff = Backoff(data.get("backoff", Backoff.NEVER))
        except KeyError as exc:
            raise _corrupt(origin, f"missing field {exc}") from None
        except ValueError as exc:
            raise _corrupt(origin, str(exc)) from None
        return cls(name, wake, voice, model, directives, backoff, threshold)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _corrupt(origin: str, problem: str) -> UserError:
    return UserError("personas-invalid", f"{origin}: {problem} (fix or delete the file)")


@dataclass(frozen=True, slots=True)
class Defaults:
    """The default persona's settings, from the config."""

    wake_word: str
    voice: str
    model: str

    @classmethod
    def from_config(cls, config: Config) -> Defaults:
        return cls(config.wake.model, config.tts.voice, config.llm.model)


def default_persona(user: str, defaults: Defaults) -> Persona:
    """ "personal" before anyone edits it. Only the default user's answers the configured wake
    word: a wake word chooses one user, so another user's gets one when it is given."""
    wake = defaults.wake_word if user == DEFAULT_USER else None
    return Persona(DEFAULT_PERSONA, wake, defaults.voice, defaults.model, implicit=True)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What a persona may name: the shipped wake words, the manifest's voices and models."""

    wake_words: frozenset[str]
    voices: frozenset[str]
    models: frozenset[str]

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Catalog:
        def named(role: str) -> frozenset[str]:
            return frozenset(m.name for m in manifest.models if m.role == role)

        return cls(frozenset(WAKE_MODELS) & named("wake"), named("tts"), named("llm"))

    def check(self, persona: Persona) -> Persona:
        """The persona, cleaned (directives on one line, paths absolute); UserError if bad."""
        check_name("persona", persona.name)
        if persona.wake_word is not None and persona.wake_word not in self.wake_words:
            raise UserError(
                "persona-wake",
                f"unknown wake word {persona.wake_word!r}: use one of "
                f"{', '.join(sorted(self.wake_words))}",
            )
        if not 0 <= persona.threshold <= 100:
            raise UserError(
                "persona-threshold", f"threshold must be 0-100, got {persona.threshold}"
            )
        return replace(
            persona,
            voice=_known_or_file(persona.voice, self.voices, "voice", (".onnx",)),
            model=_known_or_file(persona.model, self.models, "model", (".gguf",)),
            directives=clean_directives(persona.directives),
        )


def _known_or_file(value: str, known: Iterable[str], what: str, suffixes: tuple[str, ...]) -> str:
    if value in known:
        return value
    path = Path(value).expanduser()
    if path.suffix in suffixes and path.is_file():
        return str(path.resolve())  # the daemon does not run from the CLI's folder
    raise UserError(
        f"persona-{what}",
        f"unknown {what} {value!r}: use one of {', '.join(sorted(known))} "
        f"or the path of a {'/'.join(suffixes)} file",
    )


def clean_directives(text: str) -> str:
    """Directives on one line (a newline could start a fake section of the prompt)."""
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        raise UserError("persona-directives", "directives must be plain text")
    cleaned = _SPACE.sub(" ", text).strip()
    if len(cleaned) > MAX_DIRECTIVES:
        raise UserError(
            "persona-directives",
            f"directives are {len(cleaned)} characters, the limit is {MAX_DIRECTIVES}",
        )
    return cleaned


class PersonaBook:
    """One user's personas, read from and written to `<user dir>/personas.json`.

    Writers hold the household lock (`secondself.household.users`): a wake word is unique across
    every user's file, which one file cannot check alone.
    """

    def __init__(self, user_dir: Path, user: str, defaults: Defaults) -> None:
        self.user_dir = user_dir
        self.user = user
        self.defaults = defaults

    @property
    def path(self) -> Path:
        return self.user_dir / PERSONAS_FILE

    def stored(self) -> dict[str, Persona]:
        """The personas written to the file (no implicit default)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UserError("personas-read", f"cannot read {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _corrupt(str(self.path), f"not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("personas"), list):
            raise _corrupt(str(self.path), "expected {'version': 1, 'personas': [...]}")
        if data.get("version") != FORMAT_VERSION:
            raise _corrupt(str(self.path), f"unsupported version {data.get('version')!r}")
        found: dict[str, Persona] = {}
        for entry in data["personas"]:
            if not isinstance(entry, dict):
                raise _corrupt(str(self.path), "a persona is not an object")
            persona = Persona.from_dict(entry, str(self.path))
            if not _valid_name(persona.name) or persona.name in found:
                raise _corrupt(str(self.path), f"bad or repeated persona name {persona.name!r}")
            found[persona.name] = persona
        return found

    def all(self) -> list[Persona]:
        """Every persona of the user, the default first, then by name."""
        stored = self.stored()
        default = stored.pop(DEFAULT_PERSONA, None) or default_persona(self.user, self.defaults)
        return [default, *sorted(stored.values(), key=lambda p: p.name)]

    def find(self, name: str) -> Persona | None:
        return next((p for p in self.all() if p.name == name), None)

    def get(self, name: str) -> Persona:
        persona = self.find(check_name("persona", name))
        if persona is None:
            known = ", ".join(p.name for p in self.all())
            raise UserError(
                "persona-unknown", f"no persona {name!r} for user {self.user} (known: {known})"
            )
        return persona

    def put(self, persona: Persona) -> None:
        """Create or replace one persona (the caller validated it and holds the lock)."""
        stored = self.stored()
        stored[persona.name] = replace(persona, implicit=False)
        self._write(stored.values())

    def remove(self, name: str) -> None:
        stored = self.stored()
        if stored.pop(name, None) is not None:
            self._write(stored.values())

    def _write(self, personas: Iterable[Persona]) -> None:
        data = {
            "version": FORMAT_VERSION,
            "personas": [p.to_dict() for p in sorted(personas, key=lambda p: p.name)],
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.path, text.encode())


def _valid_name(name: str) -> bool:
    try:
        check_name("persona", name)
    except UserError:
        return False
    return True


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: readers see the old file or the new one, never a part,
    and after a power cut the new one is there once this returns."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself must survive a power cut
    finally:
        os.close(folder)


def for_persona(config: Config, persona: Persona) -> Config:
    """The config with the persona's wake word, voice and answer model in place."""
    return replace(
        config,
        wake=replace(config.wake, model=persona.wake_word or config.wake.model),
        tts=replace(config.tts, voice=persona.voice),
        llm=replace(config.llm, model=persona.model),
    )
