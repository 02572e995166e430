"""`secondself memories [--search Q] [--json]`: list or search the user's memories."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from secondself.cli.registry import Subparsers
from secondself.cli.store_access import open_store
from secondself.core.errors import UserError
from secondself.memory import archive, validate
from secondself.memory.model import (
    Kind,
    Memory,
    SearchFilter,
    SearchResult,
)
from secondself.service.app import App

MAX_LIMIT = 1_000_000  # memories one listing shows at most
# A search ranks a few times `limit` candidates in each half (k-NN, BM25), in memory.
MAX_RESULTS = 1000


def register(sub: Subparsers) -> None:
    p = sub.add_parser("memories", help="list or search memories")
    p.add_argument("--search", metavar="Q", help="hybrid search (meaning and words)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--all", action="store_true", help="include superseded memories")
    p.add_argument("--kind", choices=[str(k) for k in Kind], action="append")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_memories)


def _memories(args: argparse.Namespace, app: App) -> int:
    where = SearchFilter(
        persona=app.persona,
        kinds=tuple(Kind(k) for k in args.kind or ()),
        include_superseded=args.all,
    )
    limit = args.limit
    if not 1 <= limit <= MAX_LIMIT:  # SQLite takes no number past 2**63 - 1
        raise UserError("bad-limit", f"--limit {limit}: a whole number from 1 to {MAX_LIMIT:,}")
    if args.search is not None:
        validate.check_unicode(args.search, "search")
        with open_store(app, vectors=True) as store:
            results = store.search(args.search, where, min(limit, MAX_RESULTS))
        if args.json:
            print(json.dumps([_result_json(r) for r in results], ensure_ascii=False, indent=1))
        else:
            for r in results:
                print(line(r.memory, f"{r.scores.similarity:.2f}"))
        return 0
    if not app.db_path().exists():
        memories: list[Memory] = []  # listing must not create a database
    else:
        with open_store(app, vectors=False) as store:
            memories = store.recent(where, limit)
    if args.json:
        print(json.dumps([memory_json(m) for m in memories], ensure_ascii=False, indent=1))
    else:
        for m in memories:
            print(line(m))
    return 0


def line(m: Memory, extra: str = "") -> str:
    try:
        when = datetime.fromtimestamp(m.created).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):  # saved by an import that did not check
        when = "????-??-?? ??:??"
    text = m.text.replace("\n", " ")
    text = text if len(text) <= 80 else text[:77] + "..."
    flags = "" if m.current else " (superseded)"
    extra = f" {extra}" if extra else ""
    return f"#{m.id:<6} {when} {m.kind:<17}{extra} {text}{flags}"


def memory_json(m: Memory) -> dict[str, Any]:
    data = archive.record(m, [])
    data["current"] = m.current
    return data


def _result_json(r: SearchResult) -> dict[str, Any]:
    data = memory_json(r.memory)
    data["scores"] = {
        "similarity": r.scores.similarity,
        "vector_rank": r.scores.vector_rank,
        "bm25_rank": r.scores.bm25_rank,
        "bm25": r.scores.bm25,
        "fused": r.scores.fused,
    }
    return data
