"""One conversation per (user, persona) the device answers to, made on its first wake.

The daemon listens for every wake word of the household (`users.Registry`): a wake word says
whose persona was called, and the turn goes to that persona's conversation, with its user's
database, its memory scope, its voice, its directives and its answer model (from the model
pool, loaded on first use under the RAM budget). What has no per-persona state (speech to
text, embeddings, the speaker, the cloud client) is shared.

The device itself (button, camera) belongs to the user the daemon was started for (`--user`,
`--persona`): a snapshot asked for by another user's persona is refused rather than saved in
someone else's memories.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from secondself.answer.cloud_client import CloudAnswerModel
from secondself.answer.pool import ModelPool, spec_for
from secondself.answer.ports import SnapshotPort
from secondself.answer.turn import Conversation, TurnSettings
from secondself.core.bus import Bus
from secondself.core.config import Config
from secondself.core.errors import SecondselfError, Stage
from secondself.core.protocols import Embedder, Speaker, Synthesizer, Transcriber
from secondself.household.personas import Persona, for_persona
from secondself.household.routing import Route
from secondself.household.stores import CurrentMemory, OpenStores
from secondself.household.users import Household
from secondself.memory.store import MemoryStore
from secondself.voice.tts import PiperSynthesizer
from secondself.weights.manifest import ModelStore

log = logging.getLogger(__name__)


def turn_settings(config: Config, persona: Persona) -> TurnSettings:
    return TurnSettings(
        max_tokens=config.llm.max_tokens,
        top_k=config.memory.top_k,
        directives=persona.directives,
        backoff=str(persona.backoff),
    )


def wake_routes(household: Household, primary: Route, primary_wake: str) -> dict[str, Route]:
    """Every wake word the device answers to and whose persona it calls.

    The persona the daemon was started as takes `primary_wake` (its own, or the config's)
    from an implicit default persona, but never from a persona written with that wake word:
    someone chose it, and their questions must not go to another's memories."""
    registry = household.registry()
    for conflict in registry.conflicts:
        log.warning("%s: it wakes only the first", conflict)
    routes = dict(registry.routes)
    owner = routes.get(primary_wake)
    if owner is None or owner == primary or household.persona(*owner).implicit:
        routes[primary_wake] = primary
    else:
        log.warning(
            "wake word %s wakes persona %s of user %s (it was given to it), not persona %s of "
            "user %s that the daemon runs as: give one of them another wake word",
            primary_wake, owner.persona, owner.user, primary.persona, primary.user,
        )  # fmt: skip
    return routes


class CameraOfAnother:
    """The camera as seen by a persona other than the device's owner: its photos would be
    saved among the owner's memories, under the owner's cloud policy, so it takes none."""

    def __init__(self, owner: Route) -> None:
        self._owner = owner

    def snapshot_for_voice(self) -> str | None:
        return f"The camera takes pictures for {self._owner.persona} of {self._owner.user} only."


@dataclass
class Shared:
    """The stages every persona's conversation uses."""

    bus: Bus
    config: Config  # before any persona's changes
    models: ModelStore
    stt: Transcriber
    embedder: Embedder
    speaker: Speaker
    pool: ModelPool
    cloud: CloudAnswerModel | None = None


class Conversations:
    """The household's conversations by wake word, each made when first called."""

    def __init__(
        self,
        household: Household,
        shared: Shared,
        stores: OpenStores,
        primary: Route,
        routes: Mapping[str, Route],
        camera: SnapshotPort | None = None,
        voices: Mapping[str, Synthesizer] | None = None,
        voice: Synthesizer | None = None,
    ) -> None:
        """`voices`: those loaded already, by name; `voice`: the one every persona speaks
        with instead of its own (a silent one: text answers)."""
        self.household = household
        self.shared = shared
        self.primary = primary
        self.routes = dict(routes)
        self.camera = camera  # the device's (None: no camera)
        self.stores = stores
        self._voices: dict[str, Synthesizer] = dict(voices or {})
        self._voice_for_all = voice
        self._made: dict[Route, Conversation] = {}
        # Conversations are made from several threads (the voice loop, the web page).
        self._lock = threading.Lock()

    @property
    def wake_words(self) -> tuple[str, ...]:
        return tuple(self.routes)

    def route(self, wake_word: str) -> Route:
        return self.routes.get(wake_word, self.primary)

    def for_wake(self, wake_word: str) -> tuple[Route, Conversation]:
        """Whose persona the wake word calls, and its conversation (made now if `make_all`
        did not)."""
        route = self.route(wake_word)
        # Lock-free once made (at start): the event loop never waits on a store being opened.
        made = self._made.get(route)
        return route, made if made is not None else self.get(route)

    def make_all(self) -> list[str]:
        """Make every routed conversation now, at start (databases opened, voices loaded),
        so a wake costs nothing. A persona that cannot be made (its voice file is gone, its
        user was removed) loses its wake word; the problems are returned, one line each."""
        problems = []
        for word, route in list(self.routes.items()):
            try:
                self.get(route)
            except SecondselfError as exc:
                if route == self.primary:
                    raise  # the daemon's own persona: a start error, as before
                del self.routes[word]
                whose = f"persona {route.persona} of {route.user}"
                problems.append(f"wake word {word} ({whose}) is off: {exc}")
        return problems

    def get(self, route: Route) -> Conversation:
        with self._lock:
            if (made := self._made.get(route)) is None:
                made = self._made[route] = self._make(route)
                log.info("persona %s of user %s is ready", route.persona, route.user)
            return made

    def store(self, user: str) -> MemoryStore:
        """The user's memory store, opened once (it is shared by their personas) and again
        when its file was replaced (`OpenStores`)."""
        return self.stores(user)

    def made_routes(self) -> list[tuple[Route, Conversation]]:
        with self._lock:
            return list(self._made.items())

    def close(self) -> None:
        with self._lock:
            self._made.clear()
        self.stores.close()

    def for_text(self, route: Route, synth: Synthesizer, speaker: Speaker) -> Conversation:
        """A new conversation of the route's persona that speaks through `synth` and
        `speaker` (the page's chat APIs: one for each request). Its events go to a bus of
        its own: its turns are not the device's, so the LED, the journal and the metrics do
        not follow them. UserError for an unknown user or persona (blocking: reads its file)."""
        return self._make(route, Bus(), synth, speaker)

    def _make(
        self,
        route: Route,
        bus: Bus | None = None,
        synth: Synthesizer | None = None,
        speaker: Speaker | None = None,
    ) -> Conversation:
        """The route's conversation: by default on the device (its bus, voice and speaker)."""
        s = self.shared
        persona = self.household.persona(route.user, route.persona)
        config = for_persona(s.config, persona)
        spec = spec_for(s.models, config, persona.model)
        camera: SnapshotPort | None = self.camera if speaker is None else None
        if route != self.primary and camera is not None:
            camera = CameraOfAnother(self.primary)
        self.store(route.user)  # opened now: a wake costs nothing
        return Conversation(
            bus or s.bus,
            s.stt,
            CurrentMemory(self.stores, route.user, persona.name),
            s.pool.model(spec, persona.name),
            synth or self._voice(persona.voice),
            speaker or s.speaker,
            turn_settings(config, persona),
            cloud=s.cloud,
            camera=camera,
            embedder=s.embedder,
        )

    def _voice(self, name: str) -> Synthesizer:
        if self._voice_for_all is not None:
            return self._voice_for_all
        if (voice := self._voices.get(name)) is None:
            path: Path = self.shared.models.resolve(name, Stage.TTS)
            voice = self._voices[name] = PiperSynthesizer(path)
        return voice


def reload_settings(conversations: Conversations, config: Config) -> list[str]:
    """A reload (SIGHUP): every conversation made so far takes the config's turn settings
    and its persona's directives and cloud policy as written now, so `persona edit --backoff
    never` stops cloud answers without a restart. Returns what could not be applied."""
    problems = []
    for route, conversation in conversations.made_routes():
        try:
            persona = conversations.household.persona(route.user, route.persona)
        except SecondselfError as exc:
            problems.append(f"persona {route.persona} of {route.user}: {exc}")
            continue
        fresh = turn_settings(for_persona(config, persona), persona)
        conversation.reconfigure(
            replace(
                conversation.settings,
                max_tokens=fresh.max_tokens,
                top_k=fresh.top_k,
                directives=fresh.directives,
                backoff=fresh.backoff,
            )
        )
    return problems
