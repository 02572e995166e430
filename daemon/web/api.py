"""The page's JSON API: one user at a time (`?user=`), seen as one persona (`?persona=`).

Every route reads its parameters, then does its blocking work (files, SQLite, embedding)
in the page's own small thread pool, never the loop's default one: the voice's stages (STT,
TTS, playback, generation) run there, and a page must not make them wait for a thread.

Errors are one line of JSON: an unknown user, persona or memory is 404, bad input 400, and
nothing is changed by a request that fails. Who may ask at all is `access.py`'s business.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from secondself.answer.correction import check_said, correct_last
from secondself.core.bus import Bus
from secondself.core.errors import SecondselfError, UserError
from secondself.household.personas import DEFAULT_PERSONA, Persona
from secondself.memory import archive, media, validate
from secondself.memory.model import Memory, Origin, SearchFilter, SearchResult, Visibility
from secondself.web import actions, params
from secondself.web.http import HttpError, Request, Response, json_response
from secondself.web.live import event_stream
from secondself.web.stores import UserStores
from secondself.web.turns import TurnScores

NOT_FOUND = frozenset({"user-unknown", "persona-unknown", "memory-unknown-id"})
MEDIA_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
    "heic": "image/heic", "wav": "audio/wav",
}  # fmt: skip
PAGE_LIMIT = 100
OFFSET_LIMIT = 100_000
WORKERS = 2  # threads for the page's blocking work: one slow request leaves one for the rest
# How long closing waits for requests in flight: a stop has 5 s in all (issue 8), and this
# wait holds up the event loop.
CLOSE_WAIT_S = 2.0

T = TypeVar("T")

Route = Callable[[Request, tuple[str, ...]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Who:
    user: str
    persona: Persona


class WebApi:
    def __init__(self, stores: UserStores, bus: Bus, default_user: str) -> None:
        self.stores = stores
        self.bus = bus
        self.default_user = default_user
        self.turns = TurnScores(stores.embedder)
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="secondself-web")
        self._in_flight: set[Future[Any]] = set()
        self.routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("GET", re.compile(r"/api/users"), self.users),
            ("GET", re.compile(r"/api/personas"), self.personas),
            ("GET", re.compile(r"/api/memories"), self.memories),
            ("POST", re.compile(r"/api/memories"), self.remember),
            ("GET", re.compile(r"/api/memories/(\d{1,15})"), self.memory),
            ("DELETE", re.compile(r"/api/memories/(\d{1,15})"), self.forget),
            ("POST", re.compile(r"/api/memories/(\d{1,15})/visibility"), self.share),
            ("GET", re.compile(r"/api/conversations"), self.conversations),
            ("POST", re.compile(r"/api/correct"), self.correct),
            ("GET", re.compile(r"/api/media/([0-9a-f]{64})\.([a-z0-9]{1,8})"), self.media),
            ("GET", re.compile(r"/api/events"), self.events),
        ]

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

    async def handle(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        allowed: list[str] = []
        for route_method, pattern, route in self.routes:
            if (match := pattern.fullmatch(request.path)) is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            try:
                return await route(request, match.groups())
            except UserError as exc:
                status = 404 if exc.code in NOT_FOUND else 400
                raise HttpError(status, exc.code, exc.message) from None
            except SecondselfError as exc:  # a fault, not the request: say which
                status = 507 if exc.code == "memory-disk-full" else 500
                raise HttpError(status, exc.code, exc.message) from None
        if allowed:
            raise HttpError(405, "method", f"{request.path} takes {' or '.join(allowed)}")
        raise HttpError(404, "not-found", f"no such page: {request.path}")

    # --- who is asking ------------------------------------------------------------------

    def who(self, query: Mapping[str, str]) -> Who:
        """The user and persona of a request (blocking: reads the persona file)."""
        user = query.get("user") or self.default_user
        self.stores.folder(user)  # UserError: bad name, or no such user
        persona = self.stores.household.persona(user, query.get("persona") or DEFAULT_PERSONA)
        return Who(user, persona)

    # --- users and personas -------------------------------------------------------------

    async def users(self, request: Request, _: tuple[str, ...]) -> Response:
        names = await self.run(self.stores.household.users)
        return json_response({"users": names, "default": self.default_user})

    async def personas(self, request: Request, _: tuple[str, ...]) -> Response:
        def work() -> dict[str, Any]:
            user = request.query.get("user") or self.default_user
            self.stores.folder(user)
            found = self.stores.household.book(user).all()
            return {"user": user, "personas": [_persona_json(p) for p in found]}

        return json_response(await self.run(work))

    # --- memories -----------------------------------------------------------------------

    async def memories(self, request: Request, _: tuple[str, ...]) -> Response:
        q = request.query
        limit = params.integer(q, "limit", 20, 1, PAGE_LIMIT)
        offset = params.integer(q, "offset", 0, 0, OFFSET_LIMIT)
        kinds = params.kinds(q)
        search = q.get("q", "").strip()
        include_superseded = params.flag(q, "all")

        def work() -> dict[str, Any]:
            who = self.who(q)
            if not self.stores.has_memories(who.user):
                return {"memories": [], "next_offset": None}
            store = self.stores.get(who.user)
            where = SearchFilter(who.persona.name, kinds, include_superseded=include_superseded)
            if search:
                results = store.search(search, where, limit)
                shown = [_result_json(who.user, r) for r in results]
                return {"memories": shown, "next_offset": None}
            found = store.recent(where, offset + limit + 1)[offset:]
            more = offset + limit if len(found) > limit else None
            shown = [memory_json(who.user, m) for m in found[:limit]]
            return {"memories": shown, "next_offset": more}

        return json_response(await self.run(work))

    async def memory(self, request: Request, match: tuple[str, ...]) -> Response:
        def work() -> dict[str, Any]:
            who = self.who(request.query)
            if not self.stores.has_memories(who.user):
                raise actions.unknown(int(match[0]))
            found = actions.get_visible(self.stores.get(who.user), int(match[0]), who.persona.name)
            return memory_json(who.user, found)

        return json_response(await self.run(work))

    async def remember(self, request: Request, _: tuple[str, ...]) -> Response:
        body = request.json()
        text = validate.clean_text(params.text(body, "text"))  # before a store opens
        shared = params.boolean(body, "shared")

        def work() -> dict[str, Any]:
            who = self.who(request.query)
            memory = self.stores.get(who.user).remember(
                text,
                persona=who.persona.name,
                visibility=Visibility.SHARED if shared else Visibility.PRIVATE,
                source=Origin.WEB,
            )
            return memory_json(who.user, memory)

        return json_response(await self.run(work), 201)

    async def forget(self, request: Request, match: tuple[str, ...]) -> Response:
        def work() -> dict[str, Any]:
            who = self.who(request.query)
            if not self.stores.has_memories(who.user):
                raise actions.unknown(int(match[0]))
            report = actions.forget(self.stores.get(who.user), int(match[0]), who.persona.name)
            return {
                "forgotten": list(report.ids),
                "turns_removed": list(report.turns_removed),
                "media_removed": list(report.media_removed),
            }

        return json_response(await self.run(work))

    async def share(self, request: Request, match: tuple[str, ...]) -> Response:
        visibility = params.visibility(request.json())

        def work() -> dict[str, Any]:
            who = self.who(request.query)
            if not self.stores.has_memories(who.user):
                raise actions.unknown(int(match[0]))
            store = self.stores.get(who.user)
            memory = actions.set_visibility(store, int(match[0]), who.persona.name, visibility)
            return memory_json(who.user, memory)

        return json_response(await self.run(work))

    async def media(self, request: Request, match: tuple[str, ...]) -> Response:
        digest, ext = match  # the route admits only hex and [a-z0-9]: no '/', no '..'

        def work() -> bytes:
            user = request.query.get("user") or self.default_user
            path = self.stores.folder(user) / media.MEDIA_DIR / digest[:2] / f"{digest}.{ext}"
            if path.is_symlink() or not path.is_file():
                raise HttpError(404, "media-unknown", f"no media file {digest}.{ext}")
            return path.read_bytes()

        data = await self.run(work)
        kind = MEDIA_TYPES.get(ext, "application/octet-stream")
        extra = (("Content-Security-Policy", "default-src 'none'; sandbox"),)
        return Response(200, data, kind, extra)

    # --- conversations ------------------------------------------------------------------

    async def conversations(self, request: Request, _: tuple[str, ...]) -> Response:
        q = request.query
        limit = params.integer(q, "limit", 10, 1, 50)
        offset = params.integer(q, "offset", 0, 0, OFFSET_LIMIT)

        def work() -> dict[str, Any]:
            who = self.who(q)
            if not self.stores.has_memories(who.user):
                return {"turns": [], "next_offset": None, "threshold": who.persona.threshold}
            store = self.stores.get(who.user)
            turns, more = self.turns.page(
                who.user, store, who.persona.name, limit, offset, who.persona.threshold
            )
            return {"turns": turns, "next_offset": more, "threshold": who.persona.threshold}

        return json_response(await self.run(work))

    async def correct(self, request: Request, _: tuple[str, ...]) -> Response:
        said = check_said(params.text(request.json(), "text"))

        def work() -> dict[str, Any]:
            who = self.who(request.query)
            if not self.stores.has_memories(who.user):
                raise UserError("nothing-to-correct", "there is no answer to correct yet")
            store = self.stores.get(who.user)
            fixed = correct_last(store, who.persona.name, said, Origin.WEB)
            return {"id": fixed.memory.id, "text": fixed.memory.text, "corrects": fixed.corrects}

        return json_response(await self.run(work), 201)

    # --- live ---------------------------------------------------------------------------

    async def events(self, request: Request, _: tuple[str, ...]) -> Response:
        return Response(
            200,
            content_type="text/event-stream; charset=utf-8",
            headers=(("X-Accel-Buffering", "no"),),
            stream=event_stream(self.bus),
        )


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


def _persona_json(persona: Persona) -> dict[str, Any]:
    return {**persona.to_dict(), "implicit": persona.implicit}
