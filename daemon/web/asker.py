"""Who asks, as a route sees it: the user and persona the request's token allows, checked
against the scope the route needs (FastAPI dependencies, so the schema shows the query).

The owner's token may name any user (`?user=`) and persona (`?persona=`); a scoped token is
its own user and persona, whether the request names them or not, and naming another is a
403: it reaches nothing the token's persona may not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from secondself.web.errors import HttpError
from secondself.web.tokens import Grant, Scope

User = Annotated[
    str, Query(description="the user (default: the daemon's primary user; a scoped token's own)")
]
PersonaName = Annotated[
    str, Query(description="the persona seen as (default: personal; a scoped token's own)")
]


@dataclass(frozen=True, slots=True)
class Asker:
    user: str  # "": the daemon's primary user
    persona: str  # "": the default persona
    grant: Grant


def grant_of(request: Request, needed: Scope) -> Grant:
    """The request's grant (left by `guard.PageGuard`); HttpError 403 beyond its scope."""
    grant = getattr(request.state, "grant", None)
    if not isinstance(grant, Grant):  # only a route outside the guard's paths gets here
        raise HttpError(401, "unauthorized", "this needs a token")
    if not grant.scope.includes(needed):
        raise HttpError(
            403, "token-scope", f"this needs a token of scope {needed} (this one is {grant.scope})"
        )
    return grant


def pinned(kind: str, given: str, fixed: str | None) -> str:
    """`given`, unless the token fixes it: then the token's (another is a 403)."""
    if fixed is None:
        return given
    if given and given != fixed:
        raise HttpError(403, "token-scope", f"this token is for {kind} {fixed}, not {given}")
    return fixed


def needs(scope: Scope) -> Any:
    """A dependency: the request's grant, if its scope covers `scope`."""

    def dependency(request: Request) -> Grant:
        return grant_of(request, scope)

    return Depends(dependency)


def asking(scope: Scope) -> Any:
    """A dependency: the `Asker` of a request whose token covers `scope`, its user and
    persona from the query."""

    def dependency(request: Request, user: User = "", persona: PersonaName = "") -> Asker:
        grant = grant_of(request, scope)
        user = pinned("user", user, grant.user)
        return Asker(user, pinned("persona", persona, grant.persona), grant)

    return Depends(dependency)


def asking_user(scope: Scope) -> Any:
    """As `asking`, for a route about a user rather than a persona (no `?persona=`)."""

    def dependency(request: Request, user: User = "") -> Asker:
        grant = grant_of(request, scope)
        return Asker(pinned("user", user, grant.user), grant.persona or "", grant)

    return Depends(dependency)


Reader = Annotated[Asker, asking(Scope.READ)]
Rememberer = Annotated[Asker, asking(Scope.REMEMBER)]
UserReader = Annotated[Asker, asking_user(Scope.READ)]
