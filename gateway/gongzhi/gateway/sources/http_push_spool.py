"""The push spool: every accepted HTTP push, committed to disk before the platform is answered.

A carrier platform drops pushes after repeated failures, so a push is answered 200 only once it
is here (SQLite, WAL: a commit survives the process being killed). The source then hands the
spooled pushes to the pipeline in order and marks them done once the pipeline has committed
them; after a restart the ones not done are handed over again.

Each push has a key (the same message delivered again has the same key, ``UNIQUE``): a retry of
a push already spooled, or already done within ``keep_ms``, is recognised and not spooled again.

Writes from the HTTP server's event loop go through ``SpoolWriter``: one thread commits all the
pushes waiting at that moment in one transaction (group commit), so many concurrent pushes cost
one commit, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gongzhi.gateway.sqlite import open_db, transaction

log = logging.getLogger(__name__)

DEFAULT_KEEP_MS = 24 * 3_600_000  # a retry within a day is recognised


@dataclass(frozen=True, slots=True)
class Spooled:
    id: int
    key: str
    received_ms: int
    body: bytes


class PushSpool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        conn = open_db(self.path)
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

    def add(self, items: Sequence[tuple[str, int, bytes]]) -> list[bool]:
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


Item = tuple[str, int, bytes]  # key, received_ms, body
Settle = Callable[[list[bool] | Exception], None]  # for each item whether new, or the failure
_Waiter = tuple[list[Item], asyncio.AbstractEventLoop, Settle]


class SpoolWriter:
    """Group commit for the HTTP server: ``writer.submit(items, loop, settle)`` commits the
    items with every other push waiting at that moment, then calls ``settle`` in ``loop``'s
    thread with, for each item, whether it was new (False: spooled before), or with the
    exception when the spool cannot be written (the platform is then answered 503 and delivers
    again). A callback, not a future: at thousands of pushes a second each object a request
    allocates counts."""

    def __init__(self, spool: PushSpool, *,
                 on_commit: Callable[[], None] | None = None) -> None:
        self._spool = spool
        self._waiting: list[_Waiter] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._on_commit = on_commit

    def start(self) -> None:
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="push-spool", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, items: list[Item], loop: asyncio.AbstractEventLoop, settle: Settle) -> None:
        """Raises ``RuntimeError`` when the writer is closed."""
        with self._ready:
            if self._closed:
                raise RuntimeError("the push spool is closed")
            self._waiting.append((items, loop, settle))
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                batch, self._waiting = self._waiting, []
                closed = self._closed
            if batch:
                self._commit(batch)
            if closed:
                return

    def _commit(self, batch: list[_Waiter]) -> None:
        try:
            fresh = self._spool.add([item for items, _, _ in batch for item in items])
        except Exception as exc:
            log.exception("cannot write %d pushes to the spool", len(batch))
            failed: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
            for _, loop, settle in batch:
                failed.setdefault(loop, []).append((settle, exc))
            for loop, results in failed.items():
                _call_in(loop, results)
            return
        # One wake-up of each event loop for all its waiters, not one each.
        settled: dict[asyncio.AbstractEventLoop, list[_Settled]] = {}
        start = 0
        for items, loop, settle in batch:
            settled.setdefault(loop, []).append((settle, fresh[start:start + len(items)]))
            start += len(items)
        for loop, results in settled.items():
            _call_in(loop, results)
        if self._on_commit is not None and any(fresh):
            self._on_commit()


_Settled = tuple[Settle, "list[bool] | Exception"]


def _call_in(loop: asyncio.AbstractEventLoop, results: list[_Settled]) -> None:
    # A closed loop: its server stopped, nobody waits any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, results)


def _settle(results: list[_Settled]) -> None:
    for settle, value in results:
        try:
            settle(value)
        except Exception:
            log.exception("a push's answer failed")
