"""The OpenAI-compatible API, so any OpenAI client can talk to a second self:
`GET /v1/models` (one model per persona the token may use: its id is the persona's name)
and `POST /v1/chat/completions`, streamed as Server-Sent Events or not.

The answer is the persona's own (`chat.py`). Beside OpenAI's fields it carries a
`secondself` field (in the last chunk, when streamed): the personal score, its parts, the
sources it drew on and the backend, as `secondself ask --json` reports them. Only the
messages and `stream` are read; other options (temperature, max_tokens, ...) are the
persona's to set, and ignored. Errors are in OpenAI's shape (`errors.py`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Security
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response, StreamingResponse

from secondself.web.api import BEARER
from secondself.web.asker import Asker, asking_user
from secondself.web.chat import Answered, Chat
from secondself.web.errors import OpenAIErrorBody, error_body, failure
from secondself.web.jsonbody import JsonRoute
from secondself.web.tokens import Scope

REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody, "description": what}
    for status, what in (
        (400, "bad input"), (401, "no token, or a wrong, expired or revoked one"),
        (403, "another persona's or user's, or beyond the token's scope"),
        (404, "no such user or persona (model)"), (503, "too many questions at once"),
    )
}  # fmt: skip
Reader = Annotated[Asker, asking_user(Scope.READ)]
Asking = Annotated[Asker, asking_user(Scope.ASK)]


class ChatCompletionRequest(BaseModel):
    """What is read of a chat completion request (its other fields are accepted, unused)."""

    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(description="the persona's name (`GET /v1/models`)")
    messages: list[dict[str, Any]] = Field(description="the chat so far; the last user's asks")
    stream: StrictBool = Field(False, description="Server-Sent Events, a chunk per sentence")
    tools: list[Any] | None = Field(None, description="declined: the answer says so")


class OpenAIApi:
    def __init__(self, chat: Chat) -> None:
        self._chat = chat

    def add_routes(self, app: FastAPI) -> None:
        def add(path: str, endpoint: Callable[..., Any], method: str, summary: str) -> None:
            app.router.add_api_route(
                f"/v1{path}", endpoint, methods=[method], route_class_override=JsonRoute,
                dependencies=[Security(BEARER)], responses=REFUSALS, summary=summary,
            )  # fmt: skip

        add("/models", self.models, "GET", "OpenAI: a model per persona the token may use")
        add("/chat/completions", self.completions, "POST", "OpenAI: the persona's answer")

    async def models(self, asker: Reader) -> dict[str, Any]:
        user, personas = await self._chat.models(asker)
        return {
            "object": "list",
            "data": [
                {"id": p.name, "object": "model", "created": 0, "owned_by": user} for p in personas
            ],
        }

    async def completions(self, body: ChatCompletionRequest, asker: Asking) -> Response:
        pieces = await self._chat.ask(asker, body.model, body.messages, body.tools)
        reply = Completion(body.model)
        if body.stream:
            return StreamingResponse(
                reply.events(pieces), media_type="text/event-stream; charset=utf-8",
                headers={"X-Accel-Buffering": "no"},
            )  # fmt: skip
        said: list[str] = []
        async for piece in pieces:
            if isinstance(piece, Answered):
                return Response(json.dumps(reply.whole(" ".join(said), piece)), 200,
                                media_type="application/json")  # fmt: skip
            said.append(piece)
        raise AssertionError("an answer ends with Answered")


class Completion:
    """One answer in OpenAI's shapes: whole, or as chunks."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = model

    def whole(self, content: str, answered: Answered) -> dict[str, Any]:
        message = {"role": "assistant", "content": content}
        return {
            **self._head("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "secondself": answered.extension(),
        }

    async def events(self, pieces: AsyncIterator[str | Answered]) -> AsyncIterator[bytes]:
        """Server-Sent Events: a chunk per sentence, the last with the `secondself` field;
        a failure midway is an error event (OpenAI clients raise it), then the end."""
        yield self._chunk({"role": "assistant", "content": ""})
        first = True
        try:
            async for piece in pieces:
                if isinstance(piece, Answered):
                    yield self._chunk({}, "stop", {"secondself": piece.extension()})
                    break
                yield self._chunk({"content": piece if first else f" {piece}"})
                first = False
        except Exception as error:
            status, code, message = failure(error)
            yield _event(error_body(status, code, message, "/v1/"))
        yield b"data: [DONE]\n\n"

    def _chunk(
        self, delta: dict[str, str], finish: str | None = None, more: dict[str, Any] | None = None
    ) -> bytes:
        chunk = {
            **self._head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **(more or {}),
        }
        return _event(chunk)

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
