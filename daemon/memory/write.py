"""Saving memories: checked, embedded and written in durable batches with the time their
words name (`happened.py`), each new memory retiring what it corrects or updates (the
supersede rule, `supersede.py`)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import apsw

from secondself.core.bus import Bus
from secondself.core.errors import SecondselfError, Stage
from secondself.core.events import MemorySaved
from secondself.memory import context, happened, media, rows, supersede, validate, vectors
from secondself.memory.db import scalar_int
from secondself.memory.filters import Params
from secondself.memory.index import GraphIndex
from secondself.memory.model import Kind, NewMemory
from secondself.memory.progress import Progress

EMBED_AHEAD = 256  # texts embedded per call when saving many
SUPERSEDE_KINDS = (Kind.NOTE, Kind.VOICE_NOTE, Kind.CORRECTION)
SUPERSEDE_CANDIDATES = 10  # nearest current facts checked, by the text and by its probe

Clock = Callable[[], float]  # wall-clock seconds: created and valid times
Embed = Callable[[Sequence[str]], vectors.Matrix]  # one checked row per text


class Writer:
    """The write path of one store; the store's lock is held around every call."""

    def __init__(
        self,
        db: apsw.Connection,
        user_dir: Path,
        clock: Clock,
        bus: Bus | None,
        index: GraphIndex,
        embed: Embed,
    ) -> None:
        self._db = db
        self._user_dir = user_dir
        self._clock = clock
        self._bus = bus
        self._index = index
        self._embed = embed

    def add(self, items: Sequence[NewMemory], progress: Progress, batch: int) -> list[int]:
        """Save memories in batches of `batch`, each one durable transaction; their ids.

        Every item is checked before anything is written, so bad input changes nothing.
        """
        cleaned = [_checked(it) for it in items]
        for it in cleaned:
            if it.corrects is not None:
                rows.get(self._db, it.corrects)  # UserError for an unknown id, before writing
        ids: list[int] = []
        # Embed several batches at a time: more texts per call keep every core of a
        # sharing-out embedder busy to the end (1.1-1.2x for short notes on 2 cores).
        ahead = batch * max(1, EMBED_AHEAD // batch)
        for start in range(0, len(cleaned), ahead):
            group = cleaned[start : start + ahead]
            matrix, probes = self._embed_items(group)
            for at in range(0, len(group), batch):
                end = min(at + batch, len(group))
                mine = {n - at: v for n, v in probes.items() if at <= n < end}
                ids.extend(self._add_batch(group[at:end], matrix[at:end], mine))
                # The next batch's supersede checks find this one through the graph
                # (built once the store is big enough) instead of scanning every row.
                # Sized for the whole import: a big one gets a LARGE graph's M.
                self._index.maintain(coming=len(cleaned) - len(ids))
                progress(len(ids), len(cleaned))
        self._index.save_if_due()
        return ids

    def _embed_items(
        self, items: Sequence[NewMemory]
    ) -> tuple[vectors.Matrix, dict[int, vectors.Matrix]]:
        """The items' vectors, and probe vectors by item index.

        Statements that may update an older fact also get a probe vector ("my dog is
        called"), which finds the older fact even when the two values share no meaning.
        """
        probes: dict[int, str] = {}
        for n, it in enumerate(items):
            if (probe := _probe_text(it)) is not None:
                probes[n] = probe
        texts = [context.vector_text(it.text, it.thread) for it in items]
        embedded = self._embed(texts + list(probes.values()))
        return embedded[: len(items)], dict(zip(probes, embedded[len(items) :], strict=True))

    def _add_batch(
        self,
        items: Sequence[NewMemory],
        matrix: vectors.Matrix,
        probe_vectors: dict[int, vectors.Matrix],
    ) -> list[int]:
        written: list[str] = []  # media files new in this batch, removed if it fails
        paths: list[str | None] = []
        try:
            for it in items:
                if it.media is None:
                    paths.append(None)
                    continue
                rel, new = media.write(self._user_dir, it.media)
                paths.append(rel)
                if new:
                    written.append(rel)
            ids: list[int] = []
            with self._db:
                for it, path in zip(items, paths, strict=True):
                    ids.append(self._insert(it, path))
                vectors.put(self._db, ids, matrix)
                facts: list[int] = []  # earlier memories of this batch a later one may update
                for n, it in enumerate(items):
                    self._settle(ids[n], it, matrix[n], probe_vectors.get(n), facts)
                    if probe_vectors and _may_be_updated(it):
                        facts.append(ids[n])
        except BaseException as exc:
            for rel in written:
                if not rows.media_referenced(self._db, rel):
                    media.remove(self._user_dir, rel)
            if isinstance(exc, apsw.FullError | OSError) and _disk_full(exc):
                # The transaction rolled back: nothing half-written; say so in words.
                raise SecondselfError(
                    "memory-disk-full",
                    f"the disk holding {self._user_dir} is full: nothing was saved",
                    Stage.MEMORY,
                ) from exc
            raise
        for memory_id, it in zip(ids, items, strict=True):
            if self._bus is not None:
                self._bus.publish(
                    MemorySaved(memory_id=memory_id, kind=str(it.kind), source=str(it.source))
                )
        return ids

    def _insert(self, it: NewMemory, rel: str | None) -> int:
        now = self._clock()
        created = now if it.created is None else it.created
        valid_from = created if it.valid_from is None else it.valid_from
        # "Yesterday" means the day before it was said: resolved once, kept beside the words.
        when = happened.resolve(it.text, created)
        seq = it.seq
        if it.thread is not None and seq is None:  # after the last turn of its thread
            sql = "SELECT coalesce(max(seq) + 1, 0) FROM memories WHERE thread = ?"
            seq = scalar_int(self._db, sql, (it.thread,))
        row = self._db.execute(
            "INSERT INTO memories (kind, text, persona, visibility, created, valid_from, "
            "valid_to, source, provenance, media, corrects, happened_from, happened_to, "
            "happened_phrase, thread, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                str(it.kind),
                it.text,
                it.persona,
                str(it.visibility),
                created,
                valid_from,
                it.valid_to,
                str(it.source),
                it.provenance,
                rel,
                it.corrects,
                None if when is None else when.start,
                None if when is None else when.end,
                None if when is None else when.phrase,
                it.thread,
                seq,
            ),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _settle(
        self,
        memory_id: int,
        it: NewMemory,
        vector: vectors.Matrix,
        probe: vectors.Matrix | None,
        batch_ids: Sequence[int],
    ) -> None:
        """Retire what a new memory replaces: the memory it corrects, the fact it updates."""
        if it.corrects is not None:
            self._retire(it.corrects, memory_id)
        if probe is None:
            return
        candidates = self._similar_facts(memory_id, it.persona, vector, probe, batch_ids)
        if not candidates:
            return
        mine = rows.get(self._db, memory_id)
        # Rows read once: retiring one candidate changes no other candidate's row.
        others = rows.get_many(self._db, [i for i, _ in candidates])
        for other_id, sim in candidates:
            other = others[other_id]
            if other.persona != it.persona or not other.current or not mine.current:
                continue
            if other.kind not in SUPERSEDE_KINDS:
                continue
            if not supersede.supersedes(it.text, other.text, sim):
                continue
            if other.valid_from <= mine.valid_from:
                self._retire(other.id, memory_id)
            else:  # the "new" memory is older news (an import): it is the one retired
                self._retire(memory_id, other.id)
                return

    def _similar_facts(
        self,
        memory_id: int,
        persona: str,
        vector: vectors.Matrix,
        probe: vectors.Matrix,
        batch_ids: Sequence[int],
    ) -> list[tuple[int, float]]:
        """The persona's current facts near the text or its probe, most similar first."""
        where = "m.persona = ? AND m.valid_to IS NULL AND m.kind IN (?, ?, ?) AND m.id != ?"
        params: Params = [persona, *map(str, SUPERSEDE_KINDS), memory_id]
        # Inside the write transaction: use the graph as it is, never build or sync it here
        # (a rollback would leave it ahead of the log).
        found = {
            i
            for q in (vector, probe)
            for i, _ in self._index.nearest(q, SUPERSEDE_CANDIDATES, where, params, maintain=False)
        }
        found.update(batch_ids)  # earlier memories of this batch are not in the graph yet
        found_ids, found_vectors = vectors.get(self._db, sorted(found), len(vector))
        return sorted(
            (
                (i, float(sim))
                for i, sim in zip(found_ids, found_vectors @ vector, strict=True)
                if sim >= supersede.MIN_SIMILARITY  # below it, nothing is an update
            ),
            key=lambda c: -c[1],
        )

    def _retire(self, old_id: int, new_id: int) -> None:
        new = rows.get(self._db, new_id)
        self._db.execute(
            "UPDATE memories SET valid_to = ?, superseded_by = ? WHERE id = ?",
            (new.valid_from, new_id, old_id),
        )


def _checked(it: NewMemory) -> NewMemory:
    thread, seq = validate.thread_position(it.thread, it.seq)
    return replace(it, text=validate.clean_text(it.text), thread=thread, seq=seq)


def _probe_text(it: NewMemory) -> str | None:
    if not it.check_supersede or it.kind not in SUPERSEDE_KINDS:
        return None
    statement = supersede.parse(it.text)  # most memories are not single-valued facts
    return None if statement is None else supersede.probe(statement)


def _may_be_updated(it: NewMemory) -> bool:
    """Whether a newer memory could supersede this one (see `supersede.supersedes`)."""
    return it.kind in SUPERSEDE_KINDS and supersede.parse(it.text) is not None


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, apsw.FullError) or getattr(exc, "errno", None) == errno.ENOSPC
