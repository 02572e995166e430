"""The page's JSON API: one user at a time (`?user=`), seen as one persona (`?persona=`);
a scoped token is its own user and persona, within its scope (`asker.py`).

Every route reads its parameters, then does its blocking work (files, SQLite, embedding)
in the page's own small thread pool, never the loop's default one: the voice's stages (STT,
TTS, playback, generation) run there, and a page must not make them wait for a thread.

Errors are one line of JSON (`errors.py`): an unknown user, persona or memory is 404, bad
input 400, and nothing is changed by a request that fails. Who may ask at all is the guard's
business (`guard.PageGuard`), settled before a route is chosen.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI, Path, Query, Security
from fastapi.security import HTTPBearer
from starlette.responses import Response, StreamingResponse

from secondself.answer.correction import check_said, correct_last
from secondself.core.bus import Bus
from secondself.core.errors import UserError
from secondself.household.personas import DEFAULT_PERSONA, Persona
from secondself.memory import archive, media, validate
from secondself.memory.model import Memory, Origin, SearchFilter, SearchResult, Visibility
from secondself.memory.store import MemoryStore
from secondself.web import actions, params
from secondself.web.asker import Asker, Reader, Rememberer, UserReader, needs
from secondself.web.errors import ErrorBody, HttpError
from secondself.web.jsonbody import JsonRoute
from secondself.web.live import LiveStreams
from secondself.web.schemas import Correction, NewMemory, VisibilityChange
from secondself.web.stores import UserStores
from secondself.web.tokens import Grant, Scope
from secondself.web.turns import TurnScores

MEDIA_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    "heic": "image/heic", "wav": "audio/wav",
}  # fmt: skip
MEDIA_NAME = re.compile(r"([0-9a-f]{64})\.([a-z0-9]{1,8})")  # no '/', no '..'
PAGE_LIMIT = 100
OFFSET_LIMIT = 100_000
LARGEST_ID = 10**15 - 1
WORKERS = 2  # threads for the page's blocking work: one slow request leaves one for the rest
# How long closing waits for requests in flight: a stop has 5 s in all (issue 8), and this
# wait holds up the event loop (after the server's own second for answers in flight).
CLOSE_WAIT_S = 1.0
# The token, as the OpenAPI schema shows it; `guard.PageGuard` checks it before routing.
BEARER = HTTPBearer(auto_error=False, description="the install's access token, or a scoped one")
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "bad input"), (401, "no token, or a wrong, expired or revoked one"),
        (403, "a cross-site request, or one beyond the token's scope"),
        (404, "no such user, persona or memory"), (413, "a body over 256 KiB"),
        (415, "a body not sent as JSON"), (421, "a host name not this server's"),
    )
}  # fmt: skip

T = TypeVar("T")
MemoryId = Annotated[int, Path(ge=0, le=LARGEST_ID)]


@dataclass(frozen=True, slots=True)
class Who:
    user: str
    persona: Persona


class WebApi:
    def __init__(self, stores: UserStores, bus: Bus, default_user: str) -> None:
        self.stores = stores
        self.default_user = default_user
        self.turns = TurnScores(stores.embedder)
        self.live = LiveStreams(bus)
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="secondself-web")
        self._in_flight: set[Future[Any]] = set()

    def add_routes(self, app: FastAPI) -> None:
        """The API's routes, on `app` (each in its OpenAPI schema)."""

        def add(path: str, endpoint: Callable[..., Any], method: str = "GET", **more: Any) -> None:
            app.router.add_api_route(
                f"/api{path}", endpoint, methods=[method], route_class_override=JsonRoute,
                dependencies=[Security(BEARER)], responses=REFUSALS, **more,
            )  # fmt: skip

        add("/users", self.users, summary="The household's users")
        add("/personas", self.personas, summary="A user's personas")
        add("/memories", self.memories, summary="Newest memories, or a search")
        add("/memories", self.remember, "POST", status_code=201, summary="Remember")
        add("/memories/{memory_id}", self.memory, summary="One memory")
        add("/memories/{memory_id}", self.forget, "DELETE", summary="Forget for good")
        add(
            "/memories/{memory_id}/visibility", self.share, "POST",
            summary="Share with every persona, or make private",
        )  # fmt: skip
        add("/conversations", self.conversations, summary="Turns, with their personal score")
        add("/correct", self.correct, "POST", status_code=201, summary="Correct the last answer")
        add("/media/{name}", self.media, summary="A snapshot or a voice note")
        add("/events", self.events, summary="Live events (Server-Sent Events)")

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in the page's own threads (it blocks: files, SQLite, embedding)."""
        future = self._executor.submit(work)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        return await asyncio.wrap_future(future)

    def close(self, timeout: float = CLOSE_WAIT_S) -> bool:
        """Drop the work not started yet and wait up to `timeout` s for the requests in
        flight. False when one is still running: its store must then stay open."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        _done, running = wait(list(self._in_flight), timeout)
        return not running

    # --- who is asking ------------------------------------------------------------------

    def who(self, asker: Asker) -> Who:
        """The user and persona of a request (blocking: reads the persona file)."""
        user = asker.user or self.default_user
        self.stores.folder(user)  # UserError: bad name, or no such user
        return Who(user, self.stores.household.persona(user, asker.persona or DEFAULT_PERSONA))

    # --- users and personas -------------------------------------------------------------

    async def users(self, grant: Annotated[Grant, needs(Scope.READ)]) -> dict[str, Any]:
        if grant.user is not None:  # a scoped token knows of its own user only
            return {"users": [grant.user], "default": grant.user}
        names = await self.run(self.stores.household.users)
        return {"users": names, "default": self.default_user}

    async def personas(self, asker: UserReader) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            name = asker.user or self.default_user
            self.stores.folder(name)
            found = self.stores.household.book(name).all()
            if asker.grant.persona is not None:
                found = [p for p in found if p.name == asker.grant.persona]
            return {"user": name, "personas": [_persona_json(p) for p in found]}

        return await self.run(work)

    # --- memories -----------------------------------------------------------------------

    async def memories(
        self,
        asker: Reader,
        limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 20,
        offset: Annotated[int, Query(ge=0, le=OFFSET_LIMIT)] = 0,
        kind: Annotated[str, Query(description="kinds, comma-separated (default: all)")] = "",
        q: Annotated[str, Query(description="a search (the store's hybrid search)")] = "",
        superseded: Annotated[
            bool, Query(alias="all", description="with the memories corrections replaced")
        ] = False,
    ) -> dict[str, Any]:
        kinds = params.kinds(kind)
        search = q.strip()

        def work() -> dict[str, Any]:
            who = self.who(asker)
            if not self.stores.has_memories(who.user):
                return {"memories": [], "next_offset": None}
            store = self.stores.get(who.user)
            where = SearchFilter(who.persona.name, kinds, include_superseded=superseded)
            if search:
                results = store.search(search, where, limit)
                return {
                    "memories": [_result_json(who.user, r) for r in results],
                    "next_offset": None,
                }
            found = store.recent(where, offset + limit + 1)[offset:]
            more = offset + limit if len(found) > limit else None
            shown = [memory_json(who.user, m) for m in found[:limit]]
            return {"memories": shown, "next_offset": more}

        return await self.run(work)

    async def memory(self, memory_id: MemoryId, asker: Reader) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            who = self.who(asker)
            if not self.stores.has_memories(who.user):
                raise actions.unknown(memory_id)
            found = actions.get_visible(self.stores.get(who.user), memory_id, who.persona.name)
            return memory_json(who.user, found)

        return await self.run(work)

    async def remember(self, body: NewMemory, asker: Rememberer) -> dict[str, Any]:
        text = validate.clean_text(body.text)  # before a store opens

        def work() -> dict[str, Any]:
            who = self.who(asker)
            memory = self.stores.get(who.user).remember(
                text,
                persona=who.persona.name,
                visibility=Visibility.SHARED if body.shared else Visibility.PRIVATE,
                source=Origin.WEB,
            )
            return memory_json(who.user, memory)

        return await self.run(work)

    async def forget(self, memory_id: MemoryId, asker: Rememberer) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            who = self.who(asker)
            if not self.stores.has_memories(who.user):
                raise actions.unknown(memory_id)
            report = actions.forget(self.stores.get(who.user), memory_id, who.persona.name)
            return {
                "forgotten": list(report.ids),
                "turns_removed": list(report.turns_removed),
                "media_removed": list(report.media_removed),
            }

        return await self.run(work)

    async def share(
        self, memory_id: MemoryId, body: VisibilityChange, asker: Rememberer
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            who = self.who(asker)
            if not self.stores.has_memories(who.user):
                raise actions.unknown(memory_id)
            store = self.stores.get(who.user)
            changed = actions.set_visibility(store, memory_id, who.persona.name, body.visibility)
            return memory_json(who.user, changed)

        return await self.run(work)

    async def media(self, name: str, asker: UserReader) -> Response:
        if (match := MEDIA_NAME.fullmatch(name)) is None:
            raise HttpError(404, "media-unknown", f"no media file {name}")
        digest, ext = match.groups()

        def work() -> bytes:
            user = asker.user or self.default_user
            folder = self.stores.folder(user)
            path = folder / media.MEDIA_DIR / digest[:2] / f"{digest}.{ext}"
            if path.is_symlink() or not path.is_file():
                raise HttpError(404, "media-unknown", f"no media file {digest}.{ext}")
            if asker.grant.persona is not None and not _shown_to(
                self.stores.get(user), name, asker.grant.persona
            ):
                raise HttpError(404, "media-unknown", f"no media file {digest}.{ext}")
            return path.read_bytes()

        data = await self.run(work)
        kind = MEDIA_TYPES.get(ext, "application/octet-stream")
        return Response(data, 200, {"Content-Security-Policy": "default-src 'none'; sandbox"}, kind)

    # --- conversations ------------------------------------------------------------------

    async def conversations(
        self,
        asker: Reader,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        offset: Annotated[int, Query(ge=0, le=OFFSET_LIMIT)] = 0,
    ) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            who = self.who(asker)
            threshold = who.persona.threshold
            if not self.stores.has_memories(who.user):
                return {"turns": [], "next_offset": None, "threshold": threshold}
            store = self.stores.get(who.user)
            turns, more = self.turns.page(
                who.user, store, who.persona.name, limit, offset, threshold
            )
            return {"turns": turns, "next_offset": more, "threshold": threshold}

        return await self.run(work)

    async def correct(self, body: Correction, asker: Rememberer) -> dict[str, Any]:
        said = check_said(body.text)

        def work() -> dict[str, Any]:
            who = self.who(asker)
            if not self.stores.has_memories(who.user):
                raise UserError("nothing-to-correct", "there is no answer to correct yet")
            store = self.stores.get(who.user)
            fixed = correct_last(store, who.persona.name, said, Origin.WEB)
            return {"id": fixed.memory.id, "text": fixed.memory.text, "corrects": fixed.corrects}

        return await self.run(work)

    # --- live ---------------------------------------------------------------------------

    async def events(self, admin: Annotated[Grant, needs(Scope.ADMIN)]) -> StreamingResponse:
        """Every persona's activity (redacted): the owner's, or an admin token's."""
        return StreamingResponse(
            self.live.stream(), media_type="text/event-stream; charset=utf-8",
            headers={"X-Accel-Buffering": "no"},
        )  # fmt: skip


def memory_json(user: str, memory: Memory) -> dict[str, Any]:
    data = archive.record(memory, [])
    data["current"] = memory.current
    if memory.media:
        name = memory.media.rsplit("/", 1)[-1]
        data["media_url"] = f"/api/media/{name}?user={quote(user)}"
    return data


def _result_json(user: str, result: SearchResult) -> dict[str, Any]:
    data = memory_json(user, result.memory)
    data["scores"] = {
        "similarity": round(result.scores.similarity, 3),
        "vector_rank": result.scores.vector_rank,
        "bm25_rank": result.scores.bm25_rank,
        "fused": result.scores.fused,
    }
    return data


def _shown_to(store: MemoryStore, name: str, persona: str) -> bool:
    """Whether a memory the persona may see holds the media file `name` (a scoped token
    reaches no other persona's snapshot, even by its hash)."""
    return any(
        m.media is not None and m.media.rsplit("/", 1)[-1] == name and m.visible_to(persona)
        for m in store.iterate()
    )


def _persona_json(persona: Persona) -> dict[str, Any]:
    return {**persona.to_dict(), "implicit": persona.implicit}
