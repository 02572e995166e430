"""The MCP server of a second self, for either transport (stdio, streamable HTTP): its tools
(search, remember, forget, ask) and its personas as resources, each scoped to one caller.

Who calls is the transport's business: `secondself mcp` (stdio) is the process owner, who
is the device's owner (`--user/--persona`, admin scope); over HTTP it is the token's. Every
tool reads and changes only what the caller's persona may see, with the CLI's and the
page's rules. Bad input is a tool error, never a crash, and changes nothing: ours is one
line, the SDK's own (arguments the tool's schema refuses) names each argument.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from secondself import __version__
from secondself.core.errors import SecondselfError, Stage, UserError
from secondself.household.personas import Persona
from secondself.memory import archive, validate
from secondself.memory.model import Kind, Memory, Origin, SearchFilter, SearchResult, Visibility
from secondself.web import actions
from secondself.web.callers import Answers, Caller, Run
from secondself.web.stores import UserStores

SEARCH_LIMIT = 50
LARGEST_ID = 2**63 - 1  # SQLite's largest row id
PERSONAS_URI = "secondself://personas"
INSTRUCTIONS = (
    "A second self: the memories of one person, in their own words. search_memories finds "
    "what they said; ask answers from those memories alone, with a personal score (0-100: "
    "how much the answer is theirs) and the memories it drew on; remember saves a memory; "
    "forget removes one for good. Everything is seen as one persona of one user."
)


Query = Annotated[str, Field(description="what to look for, in any words")]
Limit = Annotated[int, Field(ge=1, le=SEARCH_LIMIT, description="at most this many")]
Kinds = Annotated[
    list[Kind] | None, Field(description="only memories of these kinds (default: all)")
]
Text = Annotated[str, Field(description="what to remember, in the user's words")]
Shared = Annotated[bool, Field(description="visible to every persona (default: this one)")]
MemoryId = Annotated[int, Field(ge=0, le=LARGEST_ID, description="a memory's id")]
Question = Annotated[str, Field(description="a question about the user's life")]
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DESTROYS = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


class SecondSelfTools:
    """The tools and resources over a household's stores, for the caller of each request."""

    def __init__(
        self,
        stores: UserStores,
        caller: Callable[[], Caller],
        run: Run,
        answers: Answers | None = None,
    ) -> None:
        self.stores = stores
        self.caller = caller  # the caller of the request being served
        self.run = run
        self.answers = answers

    def server(self) -> MCPServer:
        """An MCP server with these tools (`ask` only with answers) and resources."""
        server: MCPServer = MCPServer(
            "secondself", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
        )
        server.add_tool(self.search_memories, annotations=READ_ONLY)
        server.add_tool(self.remember, annotations=CHANGES)
        server.add_tool(self.forget, annotations=DESTROYS)
        if self.answers is not None:  # it keeps the turn, as a spoken question's is kept
            server.add_tool(self.ask, annotations=CHANGES)
        server.resource(PERSONAS_URI, mime_type="application/json")(self.personas)
        server.resource(f"{PERSONAS_URI}/{{name}}", mime_type="application/json")(self.persona)
        return server

    # --- tools --------------------------------------------------------------------------

    async def search_memories(
        self, query: Query, limit: Limit = 10, kinds: Kinds = None
    ) -> dict[str, Any]:
        """Hybrid search (meaning and words) of the memories this persona may see, best
        first, as `secondself memories --search` finds them."""
        caller = self._allowed("read")

        def work() -> dict[str, Any]:
            validate.check_unicode(query, "search")
            if not query.strip():  # refused alike with a database or without
                raise UserError("search-empty", "the search text is empty", Stage.MEMORY)
            if not self.stores.has_memories(caller.user):
                return {"memories": []}  # searching must not create a database
            where = SearchFilter(caller.persona, tuple(kinds or ()))
            found = self.stores.get(caller.user).search(query, where, limit)
            return {"memories": [_result_json(r) for r in found]}

        return await self._work(work)

    async def remember(self, text: Text, shared: Shared = False) -> dict[str, Any]:
        """Save a memory for this persona (or, shared, for every persona); returns it with
        its id."""
        caller = self._allowed("remember")

        def work() -> dict[str, Any]:
            cleaned = validate.clean_text(text)
            memory = self.stores.get(caller.user).remember(
                cleaned,
                persona=caller.persona,
                visibility=Visibility.SHARED if shared else Visibility.PRIVATE,
                source=Origin.MCP,
            )
            return {"memory": memory_json(memory)}

        return await self._work(work)

    async def forget(self, memory_id: MemoryId) -> dict[str, Any]:
        """Forget one memory for good: every copy, and the conversation turns that quoted
        it, as `secondself forget ID` does."""
        caller = self._allowed("remember")

        def work() -> dict[str, Any]:
            if not self.stores.has_memories(caller.user):
                raise actions.unknown(memory_id)
            store = self.stores.get(caller.user)
            report = actions.forget(store, memory_id, caller.persona)
            return {
                "forgotten": list(report.ids),
                "turns_removed": list(report.turns_removed),
                "media_removed": list(report.media_removed),
            }

        return await self._work(work)

    async def ask(self, question: Question) -> dict[str, Any]:
        """The persona's answer from its memories alone: the answer, its personal score
        (0-100) and parts, and the memories it drew on."""
        caller = self._allowed("ask")
        if self.answers is None:
            raise ToolError("no answer model here")
        try:
            validate.check_unicode(question, "question")
            if not question.strip():
                raise ToolError("ask what? (the question is empty)")
            return await self.answers.ask(caller, question.strip())
        except SecondselfError as exc:
            raise ToolError(exc.message) from None

    # --- resources ----------------------------------------------------------------------

    async def personas(self) -> str:
        """The personas this caller may be: every one of its user's for admin, else its own."""
        caller = self.caller()

        def work() -> str:
            found = self.stores.household.book(caller.user).all()
            if not caller.sees_every_persona:
                found = [p for p in found if p.name == caller.persona]
            return json.dumps({"user": caller.user, "personas": [_persona_json(p) for p in found]})

        return await self._read(work)

    async def persona(self, name: str) -> str:
        """One persona's settings: wake word, voice, answer model, directives, cloud policy
        and score threshold."""
        caller = self.caller()

        def work() -> str:
            persona = self.stores.household.book(caller.user).find(name)
            if persona is None or (not caller.sees_every_persona and name != caller.persona):
                raise ResourceNotFoundError(f"no persona {name!r}")
            return json.dumps(_persona_json(persona))

        return await self._read(work)

    # --- plumbing -----------------------------------------------------------------------

    def _allowed(self, scope: str) -> Caller:
        caller = self.caller()
        try:
            caller.require(scope)
        except SecondselfError as refused:
            raise ToolError(refused.message) from None
        return caller

    async def _work(self, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`work()` off the loop; a user error (bad input, an unknown id) as a tool error."""
        try:
            return await self.run(work)
        except SecondselfError as exc:
            raise ToolError(exc.message) from None

    async def _read(self, work: Callable[[], str]) -> str:
        try:
            return await self.run(work)
        except SecondselfError as exc:
            raise ResourceError(exc.message) from None


def memory_json(memory: Memory) -> dict[str, Any]:
    data = archive.record(memory, [])
    data["current"] = memory.current
    return data


def _result_json(result: SearchResult) -> dict[str, Any]:
    data = memory_json(result.memory)
    data["scores"] = {
        "similarity": round(result.scores.similarity, 3),
        "vector_rank": result.scores.vector_rank,
        "bm25_rank": result.scores.bm25_rank,
        "fused": result.scores.fused,
    }
    return data


def _persona_json(persona: Persona) -> dict[str, Any]:
    return {**persona.to_dict(), "implicit": persona.implicit}
