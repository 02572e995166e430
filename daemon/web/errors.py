"""Every refusal and failure as one line of JSON: `{"error": "...", "code": "..."}`.

The app's exception handlers turn our own errors, the framework's (no such route, a wrong
method, a parameter that fails its type) and any bug into that shape, with the status a
client can act on: an unknown user, persona or memory is 404, bad input 400, a fault 500.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from secondself.core.errors import SecondselfError, UserError

NOT_FOUND = frozenset({"user-unknown", "persona-unknown", "memory-unknown-id"})
# The codes of the framework's own refusals (a route that does not exist, say).
STATUS_CODES = {404: "not-found", 405: "method", 413: "too-large", 415: "not-json"}


class ErrorBody(BaseModel):
    """What every refusal's body holds (the OpenAPI schema of the API's errors)."""

    error: str
    code: str


class HttpError(HTTPException):
    """A request we refuse: the status, a code and a one-line reason."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, message, dict(headers) if headers else None)
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    # One line: a message with a newline in it would be two.
    line = " ".join(message.split())
    return JSONResponse({"error": line, "code": code}, status, dict(headers or {}))


def refusal(error: HTTPException, path: str) -> JSONResponse:
    """Ours as raised; the framework's (its detail is a bare phrase) said in our words."""
    if isinstance(error, HttpError):
        return error_response(error.status_code, error.code, error.message, error.headers)
    code = STATUS_CODES.get(error.status_code, f"http-{error.status_code}")
    message = str(error.detail)
    headers = error.headers or {}
    if error.status_code == 404:
        message = f"no such page: {path}"
    elif error.status_code == 405 and "Allow" in headers:
        message = f"{path} takes {' or '.join(headers['Allow'].split(', '))}"
    return error_response(error.status_code, code, message, headers)


def install(app: FastAPI) -> None:
    """Route every error raised while answering through the one-line shape."""

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return refusal(error, request.url.path)

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        where, *field = first["loc"]
        if where == "path":  # a path that names nothing, as a route that does not match
            return error_response(404, "not-found", f"no such page: {request.url.path}")
        name = ".".join(str(part) for part in field) or "the request body"
        return error_response(400, "bad-parameter", f"{name}: {first['msg']}")

    async def user_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, UserError)
        status = 404 if error.code in NOT_FOUND else 400
        return error_response(status, error.code, error.message)

    async def fault(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, SecondselfError)  # a fault, not the request: say which
        status = 507 if error.code == "memory-disk-full" else 500
        return error_response(status, error.code, error.message)

    async def bug(request: Request, error: Exception) -> JSONResponse:
        # A bug here must not take the daemon down; the server logs its traceback.
        return error_response(500, "internal", "internal error (see the daemon's log)")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(UserError, user_error)
    app.add_exception_handler(SecondselfError, fault)
    app.add_exception_handler(Exception, bug)
