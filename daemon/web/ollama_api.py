"""The Ollama-compatible API, so Home Assistant's Ollama integration, Open WebUI and other
local-AI front ends can use a second self as their conversation agent: `POST /api/chat`
(JSON lines, a line per sentence, unless `"stream": false`), `GET /api/tags` (a model per
persona the token may use: its name is the persona's) and `GET /api/version`.

They sit beside the page's own API under /api/ (`/api/memories` and the rest): no name is
shared, and the guard lets these be called without the page's write header
(`guard.CLIENT_PATHS`). The answer is the persona's own (`chat.py`); the last line carries
the `secondself` field as the OpenAI API does. Errors are `{"error": "...", ...}`, which is
Ollama's shape. A model may be named with Ollama's tag (`personal:latest`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Security
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response, StreamingResponse

from secondself import __version__
from secondself.web.api import BEARER, REFUSALS
from secondself.web.asker import Asker, asking_user
from secondself.web.chat import Answered, Chat
from secondself.web.errors import error_body, failure
from secondself.web.jsonbody import JsonRoute
from secondself.web.tokens import Scope

JSON_LINES = "application/x-ndjson"
TAG = ":latest"
Reader = Annotated[Asker, asking_user(Scope.READ)]
Asking = Annotated[Asker, asking_user(Scope.ASK)]


class OllamaChatRequest(BaseModel):
    """What is read of an Ollama chat request (its other fields are accepted, unused)."""

    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(description="the persona's name (`GET /api/tags`)")
    messages: list[dict[str, Any]] = Field(description="the chat so far; the last user's asks")
    stream: StrictBool = Field(True, description="JSON lines, a line per sentence")
    tools: list[Any] | None = Field(None, description="declined: the answer says so")


class OllamaApi:
    def __init__(self, chat: Chat) -> None:
        self._chat = chat

    def add_routes(self, app: FastAPI) -> None:
        def add(path: str, endpoint: Callable[..., Any], method: str, summary: str) -> None:
            app.router.add_api_route(
                f"/api{path}", endpoint, methods=[method], route_class_override=JsonRoute,
                dependencies=[Security(BEARER)], responses=REFUSALS, summary=summary,
            )  # fmt: skip

        add("/chat", self.chat, "POST", "Ollama: the persona's answer")
        add("/tags", self.tags, "GET", "Ollama: a model per persona the token may use")
        add("/version", self.version, "GET", "Ollama: this server's version")

    async def tags(self, asker: Reader) -> dict[str, Any]:
        user, personas = await self._chat.models(asker)
        return {"models": [_model(user, p.name) for p in personas]}

    async def version(self, asker: Reader) -> dict[str, str]:
        return {"version": __version__}

    async def chat(self, body: OllamaChatRequest, asker: Asking) -> Response:
        model = body.model.removesuffix(TAG)
        pieces = await self._chat.ask(asker, model, body.messages, body.tools)
        reply = OllamaReply(body.model)
        if body.stream:
            return StreamingResponse(reply.lines(pieces), media_type=JSON_LINES)
        said: list[str] = []
        async for piece in pieces:
            if isinstance(piece, Answered):
                whole = reply.last(piece, " ".join(said))
                return Response(json.dumps(whole), 200, media_type="application/json")
            said.append(piece)
        raise AssertionError("an answer ends with Answered")


class OllamaReply:
    """One answer in Ollama's shapes: a line per sentence, then the closing line."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._start = time.perf_counter_ns()
        self._pieces = 0

    async def lines(self, pieces: AsyncIterator[str | Answered]) -> AsyncIterator[bytes]:
        """A line per sentence and the closing one; a failure midway is an error line
        (Ollama's clients raise it)."""
        try:
            async for piece in pieces:
                if isinstance(piece, Answered):
                    yield _line(self.last(piece, ""))
                    return
                yield _line(self._message(piece if self._pieces == 0 else f" {piece}"))
                self._pieces += 1
        except Exception as error:
            yield _line(error_body(*failure(error)))

    def last(self, answered: Answered, content: str) -> dict[str, Any]:
        took = time.perf_counter_ns() - self._start
        return {
            **self._message(content),
            "done": True,
            "done_reason": "stop",
            "total_duration": took,
            "load_duration": 0,
            "prompt_eval_count": 0,
            "prompt_eval_duration": 0,
            "eval_count": self._pieces,
            "eval_duration": took,
            "secondself": answered.extension(),
        }

    def _message(self, content: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "message": {"role": "assistant", "content": content},
            "done": False,
        }


def _model(user: str, persona: str) -> dict[str, Any]:
    """A persona as Ollama lists a model (no file of its own: size 0, a digest of its name)."""
    return {
        "name": persona,
        "model": persona,
        "modified_at": datetime.datetime.fromtimestamp(0, datetime.UTC).isoformat(),
        "size": 0,
        "digest": hashlib.sha256(f"{user}/{persona}".encode()).hexdigest(),
        "details": {"format": "secondself", "family": "secondself", "parameter_size": "",
                    "quantization_level": ""},
    }  # fmt: skip


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False) + "\n").encode()
