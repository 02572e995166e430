"""A JSON request body, checked before FastAPI parses it: UTF-8, an object, at most 16 deep.

FastAPI would parse any JSON text (a 100,000-deep list overflows the parser's recursion)
and take other encodings; `JsonRoute` refuses those first, each as a one-line 400 or 415,
then lets FastAPI validate the object against the route's model (its OpenAPI schema).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from secondself.web.errors import HttpError

JSON = "application/json"
MAX_NESTING = 16  # the API's bodies are flat objects; 100,000 deep overflowed the parser
# A string (closed or not: it ends the scan, so no quote is read twice) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[][{}]', re.DOTALL)


def too_deep(body: str) -> bool:
    """Whether a JSON text's arrays and objects nest over MAX_NESTING deep (brackets in
    strings do not count), read without parsing it: the parser recurses on each level."""
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        if token[0] in ("[", "{"):
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif token[0] in ("]", "}"):
            depth -= 1
    return False


def check_object(content_type: str, body: bytes) -> None:
    """HttpError 415 unless the body is sent as JSON, 400 unless it is a JSON object."""
    kind = content_type.split(";")[0].strip().lower()
    if kind != JSON:
        raise HttpError(415, "not-json", "send the request body as application/json")
    if not body:
        return  # no object: the route's model says which fields were missing
    try:
        text = body.decode("utf-8")  # JSON's own encoding (RFC 8259)
    except UnicodeDecodeError:
        raise HttpError(400, "bad-json", "the request body is not UTF-8") from None
    if too_deep(text):
        raise HttpError(400, "bad-json", f"the request body nests over {MAX_NESTING} deep")
    try:
        data = json.loads(text)
    except ValueError:
        raise HttpError(400, "bad-json", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "bad-json", "the request body must be a JSON object")


class JsonRoute(APIRoute):
    """A route whose body, if it takes one, passes `check_object` before FastAPI reads it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            try:
                body = await request.body()
            except ClientDisconnect:  # the client went away mid-body: no one to answer
                return Response(status_code=400)
            check_object(request.headers.get("content-type", ""), body)
            return await handler(request)

        return checked
