"""Latency of the OpenAI-compatible API: request -> first token, against the text session.

The voice benchmark's 10 memories and 20 questions (`bench_voice.py`), each asked two ways
with the same loaded models, interleaved question by question in one run (the machine is
shared and noisy: compare the ratio; one way asks each question one behind the other, so
neither finds its own question's prompt in llama.cpp's cache, and they take turns leading):

- text: the persona's conversation of `text_session` (what `secondself ask` runs), timed
  from the call to its first sentence (the first `Speaking` event: a sentence said);
- api: `POST /v1/chat/completions` with `"stream": true` from the official `openai` client
  to the page on loopback (a scoped token, the daemon's `Conversations.for_text`), timed
  from sending the request to the first chunk with content (a sentence: the same event).

The difference is the API's own cost: HTTP, the token, a conversation made for the request
and Server-Sent Events.

    .venv/bin/python scripts/bench_api.py [--rounds 2] [--model smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import openai
from bench_voice import MEMORIES, QUESTIONS

from secondself.core.bus import Bus
from secondself.core.events import Event, Speaking
from secondself.service.app import App
from secondself.service.metrics import Metrics
from secondself.service.session import TextSession, text_session
from secondself.web import access
from secondself.web.server import serve_web
from secondself.web.serving import WebServer
from secondself.web.stores import UserStores
from secondself.web.tokens import Scope, TokenBook

T = TypeVar("T")
Ask = Callable[[str], None]


class Loop:
    """The page's event loop on a thread of its own, as the daemon's is beside the caller."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(120)


def text_first_ms(session: TextSession, bus: Bus, question: str) -> tuple[float, str]:
    """Call to the first sentence said, by the text session's own conversation; and what
    answered (memory: said straight from a memory; local: the model)."""
    first: list[float] = []

    def note(event: Event) -> None:
        if isinstance(event, Speaking) and not first:
            first.append(time.perf_counter())

    unsubscribe = bus.on(note)
    try:
        start = time.perf_counter()
        result = asyncio.run(session.conversation.answer(question, ()))  # no history
    finally:
        unsubscribe()
    return (first[0] - start) * 1000, result.backend


def api_first_ms(client: openai.OpenAI, question: str) -> float:
    """Request sent to the first chunk with content."""
    start = time.perf_counter()
    stream = client.chat.completions.create(
        model="personal", messages=[{"role": "user", "content": question}], stream=True
    )
    first = None
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
    assert first is not None, f"no content for {question!r}"
    return (first - start) * 1000


def serve(session: TextSession, home: Path, loop: Loop) -> tuple[WebServer, str]:
    """The page as the daemon serves it, over the session's `Conversations`; a token."""
    conversations = session.conversations
    bus = Bus()
    stores = UserStores(conversations.household, session.embedder, bus, conversations.store)
    book = TokenBook.open(home)
    token, _ = book.create("default", "personal", Scope.ASK)
    owner = access.load_or_create(home)
    server = loop.run(
        serve_web(
            Metrics().render, "127.0.0.1", 0, stores, bus, "default", owner,
            book=book, converse=conversations.for_text,
        )
    )  # fmt: skip
    return server, token


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times over the 20 questions")
    parser.add_argument("--model", default="", help="answer model (default: the config's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        home, config = Path(scratch) / "home", Path(scratch) / "config.toml"
        config.write_text(f'[llm]\nmodel = "{args.model}"\n' if args.model else "")
        app = App(config_file=config, home_override=str(home))
        with text_session(app) as session:
            store = session.conversations.store("default")
            for text in MEMORIES:
                store.remember(text, persona="personal")
            loop = Loop()
            server, token = serve(session, home, loop)
            client = openai.OpenAI(
                base_url=f"http://127.0.0.1:{server.port}/v1", api_key=token, max_retries=0
            )
            api_first_ms(client, QUESTIONS[0])  # warm both paths once, untimed
            text_first_ms(session, app.bus, QUESTIONS[0])
            text: list[tuple[float, str]] = []
            api: list[float] = []
            for round_ in range(args.rounds):
                ways = (
                    lambda q: text.append(text_first_ms(session, app.bus, q)),
                    lambda q: api.append(api_first_ms(client, q)),
                )
                one_behind(*(ways if round_ % 2 == 0 else ways[::-1]), QUESTIONS)
            loop.loop.call_soon_threadsafe(server.close)
            loop.run(server.wait_closed())
            print(report(app, [t for t, _ in text], api, [b for _, b in text]))
    return 0


def one_behind(lead: Ask, follow: Ask, asked: list[str]) -> None:
    """Each question to `lead`, and to `follow` one question later: llama.cpp reuses the
    cached prompt of an identical question, which would favour whichever came second. The
    ways take turns leading, round by round."""
    for i, question in enumerate(asked):
        lead(question)
        if i > 0:
            follow(asked[i - 1])
    follow(asked[-1])


def report(app: App, text: list[float], api: list[float], backends: list[str]) -> str:
    llm = app.config.llm
    rows = [
        f"{len(text)} memory questions each; llm {llm.model}, {llm.threads} thread(s)",
        "call -> first sentence                 p50 ms  p95 ms",
    ]
    groups = {
        "all": range(len(text)),
        "said from a memory": [i for i, b in enumerate(backends) if b == "memory"],
        "by the model": [i for i, b in enumerate(backends) if b != "memory"],
    }
    for group, picked in groups.items():
        rows.append(f"{group} ({len(picked)})")
        for name, values in (("text session", text), ("api (SSE, loopback)", api)):
            chosen = [values[i] for i in picked]
            rows.append(f"  {name:<35} {percentile(chosen, 50):7.0f} {percentile(chosen, 95):7.0f}")
    extra = statistics.median(a - t for a, t in zip(api, text, strict=True))
    rows.append(
        f"api / text at p50: {percentile(api, 50) / percentile(text, 50):.2f}x; "
        f"the API adds a median {extra:+.0f} ms a question (paired)"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
