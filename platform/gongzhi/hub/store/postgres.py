"""PostgreSQL store (psycopg 3) with a small connection pool; the deployment store, safe for
several platform replicas on one database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from gongzhi.core.errors import ConfigError, StoreUnavailable
from gongzhi.hub.store.base import CommitListener, StoreConflict
from gongzhi.hub.store.schema import POSTGRES, migrate
from gongzhi.hub.store.sql import SqlTx

# Any constant: replicas starting together take this lock so only one of them migrates.
_MIGRATION_LOCK = 0x67_7A_68_75_62


class PostgresStore:
    dialect_name = "postgresql"

    def __init__(self, url: str, *, max_connections: int = 10, connect_timeout: int = 5) -> None:
        self.url = url
        self._max = max_connections
        self._timeout = connect_timeout
        self._idle: list[psycopg.Connection] = []
        self._count = 0
        self._cond = threading.Condition()
        self._listeners: list[CommitListener] = []
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=self._timeout)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}".strip()) from None
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL: {exc}".strip(),
                              source="GONGZHI_DATABASE_URL") from None

    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection]:
        with self._cond:
            while not self._idle and self._count >= self._max:
                self._cond.wait()
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._count += 1
        if conn is None:
            try:
                conn = self._connect()
            except BaseException:
                with self._cond:
                    self._count -= 1
                    self._cond.notify()
                raise
        healthy = True
        try:
            yield conn
        except psycopg.errors.TransactionRollback as exc:  # deadlock or serialisation failure
            raise StoreConflict(f"PostgreSQL: {exc}".strip()) from None
        except psycopg.OperationalError as exc:
            # The server went away mid-request: the caller may retry once it is back.
            healthy = not (conn.closed or conn.broken)
            raise StoreUnavailable(f"PostgreSQL: {exc}".strip()) from None
        except BaseException:
            healthy = not (conn.closed or conn.broken)
            raise
        finally:
            with self._cond:
                if healthy and not self._closed:
                    self._idle.append(conn)
                else:
                    conn.close()
                    self._count -= 1
                self._cond.notify()

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def migrate(self) -> None:
        with self._borrow() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            migrate(conn.execute, POSTGRES)

    @contextmanager
    def transaction(self, now: int) -> Iterator[SqlTx]:
        with self._borrow() as conn, conn.transaction():
            tx = SqlTx(conn, POSTGRES)
            yield tx
            tx.flush_events(now)
        if tx.published:
            for listener in self._listeners:
                listener(tx.published)

    def ping(self) -> bool:
        try:
            with self._borrow() as conn:
                conn.execute("SELECT 1").fetchone()
            return True
        except (psycopg.Error, ConfigError, StoreUnavailable):
            return False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for conn in self._idle:
                conn.close()
                self._count -= 1
            self._idle.clear()
