"""The push spool: every accepted HTTP push, committed to disk before the platform is answered.

A carrier platform drops pushes after repeated failures, so a push is answered 200 only once it
is here (SQLite, WAL: a commit survives the process being killed). The source then hands the
spooled pushes to the pipeline in order and marks them done once the pipeline has committed
them; after a restart the ones not done are handed over again.

Each push has a key (the same message delivered again has the same key, ``UNIQUE``): a retry of
a push already spooled, or already done within ``keep_ms``, is recognised and not spooled again.

The push source commits all the pushes read in one turn of its server's loop in one transaction
(group commit), so many concurrent pushes cost one commit, not one each.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gongzhi.gateway.sqlite import open_db, transaction

log = logging.getLogger(__name__)

DEFAULT_KEEP_MS = 24 * 3_600_000  # a retry within a day is recognised


Item = tuple[str, int, bytes]  # a push's message to spool: key, received_ms, body


@dataclass(frozen=True, slots=True)
class Spooled:
    id: int
    key: str
    received_ms: int
    body: bytes


class PushSpool:
    def __init__(self, path: Path, *, checkpoints: bool = True) -> None:
        self.path = path
        self._checkpoints = checkpoints
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        conn = open_db(self.path)
        if not self._checkpoints:
            # The commit that passes the WAL's threshold copies it into the database (and
            # syncs it): a cost the answering side leaves to the other connection.
            conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE IF NOT EXISTS pushes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "key TEXT NOT NULL UNIQUE, received_ms INTEGER NOT NULL, body BLOB NOT NULL, "
                     "done INTEGER NOT NULL DEFAULT 0)")
        conn.execute("CREATE INDEX IF NOT EXISTS pushes_pending ON pushes (done, id)")
        self._conn = conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def add(self, items: Sequence[Item]) -> list[bool]:
        """Spool ``(key, received_ms, body)`` items in one transaction; for each, whether it was
        new (False: a push with its key is spooled already)."""
        conn = self._require()
        fresh: list[bool] = []
        with self._lock, transaction(conn):
            for key, received_ms, body in items:
                cursor = conn.execute("INSERT OR IGNORE INTO pushes (key, received_ms, body) "
                                      "VALUES (?, ?, ?)", (key, received_ms, body))
                fresh.append(cursor.rowcount == 1)
        return fresh

    def pending(self, after_id: int, limit: int) -> list[Spooled]:
        """Pushes not done yet with an id above ``after_id``, oldest first."""
        conn = self._require()
        with self._lock:
            rows = conn.execute("SELECT id, key, received_ms, body FROM pushes WHERE done = 0 "
                                "AND id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [Spooled(i, key, ms, bytes(body)) for i, key, ms, body in rows]

    def mark_done(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        conn = self._require()
        with self._lock, transaction(conn):
            conn.executemany("UPDATE pushes SET done = 1 WHERE id = ?", [(i,) for i in ids])

    def prune(self, now_ms: int, keep_ms: int = DEFAULT_KEEP_MS) -> int:
        """Forget done pushes older than ``keep_ms`` (their retries are no longer recognised)."""
        conn = self._require()
        with self._lock, transaction(conn):
            return conn.execute("DELETE FROM pushes WHERE done = 1 AND received_ms < ?",
                                (now_ms - keep_ms,)).rowcount

    def counts(self) -> tuple[int, int]:
        """(pending, done) pushes held."""
        conn = self._require()
        with self._lock:
            rows = dict(conn.execute("SELECT done, count(*) FROM pushes GROUP BY done"))
        return int(rows.get(0, 0)), int(rows.get(1, 0))

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("PushSpool is not open")
        return self._conn
