"""SQLite store: one connection, writes serialised by a lock (SQLite allows one writer anyway).

WAL mode lets a second process read while this one writes; several platform processes on one
SQLite file are not supported (use PostgreSQL for replicas).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.hub.store.base import CommitListener
from gongzhi.hub.store.schema import SQLITE, migrate
from gongzhi.hub.store.sql import SqlTx


class SqliteStore:
    dialect_name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._listeners: list[CommitListener] = []

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=30.0)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(f"cannot open SQLite database: {exc}",
                                  source=str(self.path)) from None
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._conn = conn
        return self._conn

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def migrate(self) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                migrate(conn.execute, SQLITE)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self, now: int) -> Iterator[SqlTx]:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            tx = SqlTx(conn, SQLITE)
            try:
                yield tx
                tx.flush_events(now)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if tx.published:
            for listener in self._listeners:
                listener(tx.published)

    def ping(self) -> bool:
        try:
            with self._lock:
                self._connection().execute("SELECT 1").fetchone()
            return True
        except (sqlite3.Error, ConfigError):
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
