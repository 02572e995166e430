"""Every refusal and failure as one line of JSON: `{"error": "...", "code": "..."}`.

The app's exception handlers turn our own errors, the framework's (no such route, a wrong
method, a parameter that fails its type) and any bug into that shape, with the status a
client can act on: an unknown user, persona or memory is 404, bad input 400, a fault 500.
Under /v1/ the same line is in OpenAI's shape, `{"error": {"message": "...", "type": "...",
"code": "..."}}`, which OpenAI clients read (the Ollama API's shape is ours already).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from secondself.core.errors import SecondselfError, UserError

log = logging.getLogger(__name__)

NOT_FOUND = frozenset({"user-unknown", "persona-unknown", "memory-unknown-id"})
OPENAI_PREFIX = "/v1/"
OPENAI_TYPES = {
    401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    503: "overloaded_error",
}  # fmt: skip
# The codes of the framework's own refusals (a route that does not exist, say).
STATUS_CODES = {404: "not-found", 405: "method", 413: "too-large", 415: "not-json"}


class ErrorBody(BaseModel):
    """What every refusal's body holds (the OpenAPI schema of the API's errors)."""

    error: str
    code: str


class OpenAIError(BaseModel):
    message: str
    type: str
    code: str


class OpenAIErrorBody(BaseModel):
    """A refusal under /v1/, in the shape OpenAI's clients read."""

    error: OpenAIError


class HttpError(HTTPException):
    """A request we refuse: the status, a code and a one-line reason."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, message, dict(headers) if headers else None)
        self.code = code
        self.message = message


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    path: str = "",
) -> JSONResponse:
    """The refusal of a request for `path` (under /v1/: in OpenAI's shape)."""
    return JSONResponse(error_body(status, code, message, path), status, dict(headers or {}))


def error_body(status: int, code: str, message: str, path: str = "") -> dict[str, Any]:
    # One line: a message with a newline in it would be two.
    line = " ".join(message.split())
    if path.startswith(OPENAI_PREFIX):
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": line, "type": OPENAI_TYPES.get(status, kind), "code": code}}
    return {"error": line, "code": code}


def failure(error: Exception) -> tuple[int, str, str]:
    """The status, code and message of an error raised while answering (a bug's traceback
    is logged, never sent): for an answer whose status line has gone out already."""
    if isinstance(error, HttpError):
        return error.status_code, error.code, error.message
    if isinstance(error, UserError):
        return 404 if error.code in NOT_FOUND else 400, error.code, error.message
    if isinstance(error, SecondselfError):
        return 507 if error.code == "memory-disk-full" else 500, error.code, error.message
    log.error("a streamed answer failed", exc_info=error)
    return 500, "internal", "internal error (see the daemon's log)"


def refusal(error: HTTPException, path: str) -> JSONResponse:
    """Ours as raised; the framework's (its detail is a bare phrase) said in our words."""
    if isinstance(error, HttpError):
        return error_response(
            error.status_code, error.code, error.message, error.headers, path=path
        )
    code = STATUS_CODES.get(error.status_code, f"http-{error.status_code}")
    message = str(error.detail)
    headers = error.headers or {}
    if error.status_code == 404:
        message = f"no such page: {path}"
    elif error.status_code == 405 and "Allow" in headers:
        message = f"{path} takes {' or '.join(headers['Allow'].split(', '))}"
    return error_response(error.status_code, code, message, headers, path=path)


def install(app: FastAPI) -> None:
    """Route every error raised while answering through the one-line shape."""

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return refusal(error, request.url.path)

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        where, *field = first["loc"]
        path = request.url.path
        if where == "path":  # a path that names nothing, as a route that does not match
            return error_response(404, "not-found", f"no such page: {path}", path=path)
        name = ".".join(str(part) for part in field) or "the request body"
        return error_response(400, "bad-parameter", f"{name}: {first['msg']}", path=path)

    async def user_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, UserError)
        status = 404 if error.code in NOT_FOUND else 400
        return error_response(status, error.code, error.message, path=request.url.path)

    async def fault(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, SecondselfError)  # a fault, not the request: say which
        status = 507 if error.code == "memory-disk-full" else 500
        return error_response(status, error.code, error.message, path=request.url.path)

    async def bug(request: Request, error: Exception) -> JSONResponse:
        # A bug here must not take the daemon down; the server logs its traceback.
        message = "internal error (see the daemon's log)"
        return error_response(500, "internal", message, path=request.url.path)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(UserError, user_error)
    app.add_exception_handler(SecondselfError, fault)
    app.add_exception_handler(Exception, bug)
