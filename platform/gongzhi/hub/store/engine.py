"""What both stores share: a transaction over an SQLAlchemy connection handed to ``SqlTx``, the
events it published announced after the commit, and migrating under the dialect's lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection

from gongzhi.hub.store.base import CommitListener
from gongzhi.hub.store.schema import migrate
from gongzhi.hub.store.sql import SqlTx


class EngineStore:
    """A store over ``_begin``: a connection in a transaction that commits when the block
    ends and rolls back when it raises (each dialect's store says how, with its locks and its
    errors)."""

    dialect_name: str

    def __init__(self) -> None:
        self._listeners: list[CommitListener] = []

    def _begin(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _lock_migrations(self, conn: Connection) -> None:
        """Hold off other processes migrating the same database until ``conn`` commits."""

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def migrate(self) -> None:
        with self._begin() as conn:
            self._lock_migrations(conn)
            migrate(conn)

    @contextmanager
    def transaction(self, now: int) -> Iterator[SqlTx]:
        with self._begin() as conn:
            tx = SqlTx(conn)
            yield tx
            tx.flush_events(now)
        if tx.published:
            for listener in self._listeners:
                listener(tx.published)
