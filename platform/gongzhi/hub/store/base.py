"""What the service needs from a store: transactions over the repository, a health check, and a
hook run after each commit that published events."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from gongzhi.core.errors import StoreUnavailable
from gongzhi.hub.store.records import TicketEvent
from gongzhi.hub.store.sql import SqlTx

CommitListener = Callable[[list[TicketEvent]], None]


class StoreConflict(StoreUnavailable):
    """The database undid the transaction to break a deadlock with another one: running it
    again is right (answered 503 like an outage when retries run out)."""


class Store(Protocol):
    dialect_name: str

    def migrate(self) -> None:
        """Bring the schema to the latest version (idempotent, safe for concurrent replicas)."""
        ...

    def transaction(self, now: int) -> AbstractContextManager[SqlTx]:
        """One transaction; ``now`` stamps the events it publishes."""
        ...

    def ping(self) -> bool: ...

    def add_commit_listener(self, listener: CommitListener) -> None: ...

    def close(self) -> None: ...
