"""SQLite store: one connection, writes serialised by a lock (SQLite allows one writer anyway).

WAL mode lets a second process read while this one writes; several platform processes on one
SQLite file are not supported (use PostgreSQL for replicas).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, exc
from sqlalchemy.pool import StaticPool

from gongzhi.core.errors import ConfigError
from gongzhi.hub.store.engine import EngineStore


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the store says BEGIN itself (below), pysqlite never
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        dbapi_conn.execute(f"PRAGMA {pragma}")


def _on_begin(conn: Connection) -> None:
    # Take the write lock at the start, so a transaction never fails to upgrade a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class SqliteStore(EngineStore):
    dialect_name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._engine: Engine | None = None
        self._conn: Connection | None = None  # the one connection, held between transactions
        self._lock = threading.RLock()

    def _connected(self) -> Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigError(f"cannot open SQLite database: {error}",
                                  source=str(self.path)) from None
            engine = create_engine(URL.create("sqlite", database=str(self.path)),
                                   poolclass=StaticPool,
                                   connect_args={"check_same_thread": False, "timeout": 30.0})
            event.listen(engine, "connect", _on_connect)
            event.listen(engine, "begin", _on_begin)
            try:
                self._conn = engine.connect()
            except exc.DBAPIError as error:
                engine.dispose()
                raise ConfigError(f"cannot open SQLite database: {error.orig}",
                                  source=str(self.path)) from None
            self._engine = engine
        return self._conn

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._connected()
            with conn.begin():
                yield conn

    def ping(self) -> bool:
        try:
            with self._lock:
                self._connected().exec_driver_sql("SELECT 1").fetchone()
                self._connected().rollback()  # ends the transaction the query began
            return True
        except (exc.DBAPIError, ConfigError):
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
