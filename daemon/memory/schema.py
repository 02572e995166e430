"""Numbered schema migrations, tracked in SQLite's `PRAGMA user_version`.

Migrations are append-only: a released step is never edited, a change is a new step. Each
step runs in one transaction with the version bump, so a crash leaves the old version.
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

from secondself.core.errors import Stage, UserError
from secondself.memory import happened

Migration = Callable[[apsw.Connection], None]


def _v1_memories(db: apsw.Connection) -> None:
    # The memory rows and their full-text index. FTS5 keeps no copy of the text
    # (external content) and deletes rewrite the segments in place (secure-delete), so a
    # forgotten word leaves no token behind after 'optimize'. No porter stemmer: query
    # words must equal indexed terms so fts5vocab can tell how common each word is.
    db.execute(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused after a forget
            kind TEXT NOT NULL CHECK (kind IN ('note', 'voice_note', 'image',
                'conversation_turn', 'correction', 'document_chunk')),
            text TEXT NOT NULL,
            persona TEXT NOT NULL,
            visibility TEXT NOT NULL CHECK (visibility IN ('private', 'shared')),
            created REAL NOT NULL,
            source TEXT NOT NULL,
            provenance TEXT NOT NULL DEFAULT '',
            media TEXT
        );
        CREATE INDEX memories_persona ON memories (persona, visibility);
        CREATE INDEX memories_created ON memories (created);
        CREATE INDEX memories_media ON memories (media) WHERE media IS NOT NULL;
        CREATE VIRTUAL TABLE memories_fts USING fts5 (
            text, content = 'memories', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        INSERT INTO memories_fts (memories_fts, rank) VALUES ('secure-delete', 1);
        CREATE VIRTUAL TABLE memories_terms USING fts5vocab (memories_fts, 'row');
        CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, text)
                VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, text)
                VALUES ('delete', old.id, old.text);
            INSERT INTO memories_fts (rowid, text) VALUES (new.id, new.text);
        END;
        """
    )


def _v2_vectors(db: apsw.Connection) -> None:
    # One float32 embedding per memory (searched with sqlite-vec's distance functions),
    # and a log of vector changes that graph indexes in any process catch up from.
    db.execute(
        """
        CREATE TABLE memory_vectors (
            memory_id INTEGER PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE,
            embedding BLOB NOT NULL
        );
        CREATE TABLE vector_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id INTEGER NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('add', 'del'))
        );
        CREATE TRIGGER vectors_log_insert AFTER INSERT ON memory_vectors BEGIN
            INSERT INTO vector_log (memory_id, op) VALUES (new.memory_id, 'add');
        END;
        CREATE TRIGGER vectors_log_update AFTER UPDATE ON memory_vectors BEGIN
            INSERT INTO vector_log (memory_id, op) VALUES (new.memory_id, 'add');
        END;
        CREATE TRIGGER vectors_log_delete AFTER DELETE ON memory_vectors BEGIN
            INSERT INTO vector_log (memory_id, op) VALUES (old.memory_id, 'del');
        END;
        """
    )


def _v3_validity(db: apsw.Connection) -> None:
    # Facts change: a newer memory supersedes an older one (valid_to), a correction
    # names what it corrects, and an answer turn lists the memories it quoted.
    db.execute(
        """
        ALTER TABLE memories ADD COLUMN valid_from REAL NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN valid_to REAL;
        ALTER TABLE memories ADD COLUMN corrects INTEGER
            REFERENCES memories (id) ON DELETE SET NULL;
        ALTER TABLE memories ADD COLUMN superseded_by INTEGER
            REFERENCES memories (id) ON DELETE SET NULL;
        UPDATE memories SET valid_from = created;
        CREATE INDEX memories_current ON memories (persona, valid_to);
        CREATE INDEX memories_corrects ON memories (corrects) WHERE corrects IS NOT NULL;
        CREATE INDEX memories_superseded_by ON memories (superseded_by)
            WHERE superseded_by IS NOT NULL;
        CREATE TABLE memory_sources (
            turn_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            PRIMARY KEY (turn_id, memory_id)
        ) WITHOUT ROWID;
        CREATE INDEX memory_sources_memory ON memory_sources (memory_id);
        """
    )


def _v4_kind_index(db: apsw.Connection) -> None:
    # Kind filters and the "turns that quote a forgotten memory" scan read by kind.
    db.execute("CREATE INDEX memories_kind ON memories (kind, created)")


def _v5_import_lookup(db: apsw.Connection) -> None:
    # An import run again skips what an earlier run saved, found by persona, provenance
    # and the start of the text: a short key, though a memory may be 32,000 characters.
    # imported.py looks memories up with this very expression.
    db.execute(
        "CREATE INDEX memories_imported ON memories (persona, provenance, substr(text, 1, 64))"
    )


def _v6_happened(db: apsw.Connection) -> None:
    # When what each memory tells of happened: its time phrase ("yesterday") placed against
    # when it was said, beside the words (which stay as they were). NULL: no time named.
    db.execute(
        """
        ALTER TABLE memories ADD COLUMN happened_from REAL;
        ALTER TABLE memories ADD COLUMN happened_to REAL;
        ALTER TABLE memories ADD COLUMN happened_phrase TEXT;
        """
    )
    happened.resolve_stored(db)


def _v7_conversation_context(db: apsw.Connection) -> None:
    # Conversation turns: a memory may belong to a thread (one sitting of a conversation)
    # at a position in it. Beside each such turn, derived from it and its neighbours and
    # rebuilt whenever they change: who said it, the vector of the turns around it, and
    # their words in a stemmed index that keeps no copy of the text (contentless, deleted
    # in place: a forgotten neighbour leaves no token behind after 'optimize').
    # Touches nothing but what it creates, so it stacks on any other migration.
    db.execute(
        """
        ALTER TABLE memories ADD COLUMN thread TEXT;
        ALTER TABLE memories ADD COLUMN seq INTEGER;
        CREATE INDEX memories_thread ON memories (thread, seq) WHERE thread IS NOT NULL;
        CREATE TABLE memory_context (
            memory_id INTEGER PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE,
            speaker TEXT NOT NULL,  -- '' when the turn names no speaker
            embedding BLOB NOT NULL  -- the window's vector, by the store's embedding model
        );
        CREATE INDEX memory_context_speaker ON memory_context (speaker) WHERE speaker != '';
        CREATE VIRTUAL TABLE context_fts USING fts5 (
            window, content = '', contentless_delete = 1,
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        INSERT INTO context_fts (context_fts, rank) VALUES ('secure-delete', 1);
        CREATE VIRTUAL TABLE context_terms USING fts5vocab (context_fts, 'row');
        CREATE TRIGGER memory_context_delete AFTER DELETE ON memory_context BEGIN
            DELETE FROM context_fts WHERE rowid = old.memory_id;
        END;
        """
    )


MIGRATIONS: tuple[Migration, ...] = (
    _v1_memories,
    _v2_vectors,
    _v3_validity,
    _v4_kind_index,
    _v5_import_lookup,
    _v6_happened,
    _v7_conversation_context,
)
LATEST = len(MIGRATIONS)


def version(db: apsw.Connection) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def check_readable(db: apsw.Connection, where: str) -> int:
    """The file's schema version; a newer one than this code knows is refused untouched."""
    found = version(db)
    if found > LATEST:
        raise UserError(
            "memory-schema-newer",
            f"{where} has memory schema {found}, newer than this secondself knows ({LATEST}): "
            "upgrade secondself; the file was left unchanged",
            Stage.MEMORY,
        )
    return found


def migrate(db: apsw.Connection, target: int = LATEST) -> int:
    """Bring the schema up to `target` (the latest by default); returns the old version."""
    start = version(db)
    for number in range(start + 1, target + 1):
        with db:  # one transaction per step, version bump included
            MIGRATIONS[number - 1](db)
            db.execute(f"PRAGMA user_version = {number}")
    return start
