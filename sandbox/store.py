"""A small JSON object store shared by the provider sandboxes.

Objects live in memory (reads never touch disk); when a data file is configured every write is
mirrored to SQLite so that `make dev` restarts keep customers' payments, accounts and events.
Each provider gets its own `ObjectStore` over one `Database`, so ids never collide across
providers and a reset of one provider leaves the others alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (provider, kind, id)
)
"""


class Database:
    """One SQLite file (or nothing, for in-memory sandboxes) with grouped commits."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._depth = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The event loop is the only writer, but the server may run in another thread than
            # the one that built the app (see sandbox.testing), hence check_same_thread=False.
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group the writes of one API call into one transaction (nested calls join it)."""
        if self._conn is None:
            yield
            return
        if self._depth == 0:
            self._conn.execute("BEGIN")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                # Memory has already changed, so disk must follow even when the block raised.
                self._conn.execute("COMMIT")

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._conn is None:
            return []
        return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ObjectStore:
    """Objects of one provider, grouped by kind, kept in insertion order (oldest first)."""

    def __init__(self, db: Database, provider: str) -> None:
        self.db = db
        self.provider = provider
        self._objects: dict[str, dict[str, JSON]] = {}
        # Public ids are unique across kinds (`find` relies on it); internal kinds ("_...") may
        # reuse an id, e.g. a webhook delivery is keyed by its event's id.
        self._kind_of: dict[str, str] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._next_seq = 1
        rows = db.execute(
            "SELECT kind, id, seq, data FROM objects WHERE provider = ? ORDER BY seq", (provider,)
        )
        for kind, object_id, seq, data in rows:
            self._remember(kind, object_id, json.loads(data), seq)
            self._next_seq = max(self._next_seq, seq + 1)

    def _remember(self, kind: str, object_id: str, obj: JSON, seq: int) -> None:
        self._objects.setdefault(kind, {})[object_id] = obj
        if not kind.startswith("_"):
            self._kind_of[object_id] = kind
        self._seq[kind, object_id] = seq

    def _write(self, kind: str, object_id: str, obj: JSON) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO objects (provider, kind, id, seq, data) VALUES (?, ?, ?, ?, ?)",
            (self.provider, kind, object_id, self._seq[kind, object_id], json.dumps(obj)),
        )

    def insert(self, kind: str, obj: JSON) -> JSON:
        object_id = str(obj["id"])
        if object_id in self._objects.get(kind, {}) or (
            not kind.startswith("_") and object_id in self._kind_of
        ):
            raise KeyError(f"duplicate id {object_id}")
        self._remember(kind, object_id, obj, self._next_seq)
        self._next_seq += 1
        self._write(kind, object_id, obj)
        return obj

    def save(self, kind: str, obj: JSON) -> JSON:
        """Persist an object after in-place changes (or insert it if it is new)."""
        object_id = str(obj["id"])
        if object_id not in self._objects.get(kind, {}):
            return self.insert(kind, obj)
        self._objects[kind][object_id] = obj
        self._write(kind, object_id, obj)
        return obj

    def get(self, kind: str, object_id: str) -> JSON | None:
        return self._objects.get(kind, {}).get(object_id)

    def find(self, object_id: str) -> tuple[str, JSON] | None:
        kind = self._kind_of.get(object_id)
        if kind is None:
            return None
        return kind, self._objects[kind][object_id]

    def seq(self, kind: str, object_id: str) -> int | None:
        return self._seq.get((kind, object_id))

    def all(self, kind: str) -> list[JSON]:
        return list(self._objects.get(kind, {}).values())

    def delete(self, kind: str, object_id: str) -> None:
        if self._objects.get(kind, {}).pop(object_id, None) is None:
            return
        if self._kind_of.get(object_id) == kind:
            del self._kind_of[object_id]
        del self._seq[kind, object_id]
        self.db.execute(
            "DELETE FROM objects WHERE provider = ? AND kind = ? AND id = ?",
            (self.provider, kind, object_id),
        )

    def clear(self) -> None:
        self._objects.clear()
        self._kind_of.clear()
        self._seq.clear()
        self.db.execute("DELETE FROM objects WHERE provider = ?", (self.provider,))
