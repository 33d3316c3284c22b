"""PostgreSQL store (SQLAlchemy's ``postgresql+psycopg`` dialect, psycopg 3) with a small
connection pool; the deployment store, safe for several platform replicas on one database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, exc, func, make_url, select

from gongzhi.core.errors import ConfigError, StoreUnavailable
from gongzhi.hub.store.base import StoreConflict
from gongzhi.hub.store.engine import EngineStore

# Any constant: replicas starting together take this lock so only one of them migrates.
_MIGRATION_LOCK = 0x67_7A_68_75_62
# How long a request waits for a free pooled connection before it is answered 503.
POOL_WAIT_S = 30.0


def _why(error: exc.DBAPIError) -> str:
    return str(error.orig).strip()


class PostgresStore(EngineStore):
    dialect_name = "postgresql"

    def __init__(self, url: str, *, max_connections: int = 10, connect_timeout: int = 5) -> None:
        super().__init__()
        self.url = url
        self._max = max_connections
        self._timeout = connect_timeout
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._closed = False

    def _connected(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._closed = False
                try:
                    url = make_url(self.url).set(drivername="postgresql+psycopg")
                except exc.ArgumentError as error:
                    raise ConfigError(f"bad PostgreSQL URL: {error}",
                                      source="GONGZHI_DATABASE_URL") from None
                engine = create_engine(
                    url, pool_size=self._max, max_overflow=0, pool_timeout=POOL_WAIT_S,
                    connect_args={"connect_timeout": self._timeout})
                event.listen(engine, "checkin", self._on_checkin)
                self._engine = engine
            return self._engine

    def _on_checkin(self, dbapi_conn: Any, _record: Any) -> None:
        # A connection given back after ``close`` (a request that was still running) is
        # closed, not kept in the pool that ``close`` emptied.
        if self._closed and dbapi_conn is not None:
            dbapi_conn.close()

    def _connect(self) -> Connection:
        try:
            return self._connected().connect()
        except exc.OperationalError as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {_why(error)}") from None
        except exc.DBAPIError as error:
            raise ConfigError(f"cannot connect to PostgreSQL: {_why(error)}",
                              source="GONGZHI_DATABASE_URL") from None
        except exc.TimeoutError:
            raise StoreUnavailable(f"no free PostgreSQL connection in {POOL_WAIT_S:.0f} s "
                                   f"(all {self._max} busy)") from None

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._connect() as conn:
            try:
                with conn.begin():
                    yield conn
            except exc.DBAPIError as error:
                if isinstance(error.orig, psycopg.errors.TransactionRollback):
                    # A deadlock or serialisation failure: running it again is right.
                    raise StoreConflict(f"PostgreSQL: {_why(error)}") from None
                if isinstance(error, exc.OperationalError) or error.connection_invalidated:
                    # The server went away mid-request: the caller may retry once it is back.
                    raise StoreUnavailable(f"PostgreSQL: {_why(error)}") from None
                raise

    def _lock_migrations(self, conn: Connection) -> None:
        conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))

    def ping(self) -> bool:
        try:
            with self._connect() as conn:
                conn.exec_driver_sql("SELECT 1").fetchone()
            return True
        except (exc.DBAPIError, ConfigError, StoreUnavailable):
            return False

    def close(self) -> None:
        with self._engine_lock:
            self._closed = True
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
