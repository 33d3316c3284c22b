"""How the alarm path reads and changes active tickets within one transaction.

``HeldTickets``: the active tickets an intake (one alarm, or a batch) touches are read once,
locked (PostgreSQL; SQLite has one writer at a time), changed in memory alarm after alarm, and
written once each before the transaction commits. The result is the same as the steps one by
one against the database, with one statement per ticket instead of two per alarm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from gongzhi.core.errors import TicketError
from gongzhi.hub.store.sql import SqlTx
from gongzhi.hub.tickets import Ticket


def occurred(ticket: Ticket, ts_ms: int, now: int, evidence: Mapping[str, Any]) -> Ticket:
    """One more alarm on ``ticket`` (deliveries may come out of order: first and last seen are
    the extremes, the newest evidence stays)."""
    return replace(ticket, occurrences=ticket.occurrences + 1,
                   first_seen=min(ticket.first_seen, ts_ms),
                   last_seen=max(ticket.last_seen, ts_ms), updated_at=now,
                   evidence=dict(evidence) if ts_ms >= ticket.last_seen else ticket.evidence,
                   version=ticket.version + 1)


class HeldTickets:
    """The active tickets of an intake, by open key."""

    def __init__(self, tx: SqlTx, keys: Iterable[str]) -> None:
        self._tx = tx
        wanted = set(keys)
        self._held: dict[str, Ticket | None] = dict.fromkeys(wanted)
        self._stored: dict[int, int] = {}  # ticket id → the version the database has
        self._dirty: dict[int, Ticket] = {}
        for ticket in tx.open_tickets(wanted, lock=True):
            self._hold(ticket)

    def _hold(self, ticket: Ticket) -> None:
        if ticket.open_key is not None:
            self._held[ticket.open_key] = ticket
        self._stored[ticket.id] = ticket.version

    def get(self, key: str) -> Ticket | None:
        if key not in self._held:
            found = self._tx.ticket_by_open_key(key, lock=True)
            self._held[key] = None
            if found is not None:
                self._hold(found)
        return self._held[key]

    def occur(self, key: str, ts_ms: int, now: int,
              evidence: Mapping[str, Any]) -> Ticket | None:
        ticket = self.get(key)
        if ticket is None:
            return None
        return self._keep(occurred(ticket, ts_ms, now, evidence))

    def change(self, ticket: Ticket) -> Ticket | None:
        key = ticket.open_key
        held = self._held.get(key) if key is not None else None
        if held is None or held.id != ticket.id or held.version != ticket.version:
            return None
        return self._keep(replace(ticket, version=ticket.version + 1))

    def _keep(self, ticket: Ticket) -> Ticket:
        if ticket.open_key is not None:
            self._held[ticket.open_key] = ticket
        self._dirty[ticket.id] = ticket
        return ticket

    def written(self, ticket: Ticket) -> None:
        if ticket.open_key is not None and ticket.open_key in self._held:
            self._hold(ticket)
            self._dirty.pop(ticket.id, None)
        elif ticket.id in self._stored:
            self._stored[ticket.id] = ticket.version

    def forget(self, key: str) -> None:
        self._held.pop(key, None)

    def flush(self) -> None:
        if not self._dirty:
            return
        changes = [(ticket, self._stored[ticket.id]) for ticket in self._dirty.values()]
        written = self._tx.save_all(changes)
        if written != len(changes):
            # The rows are held by this transaction: this cannot happen unless held wrongly.
            raise TicketError(f"{len(changes) - written} held tickets changed under the batch")
        for ticket, _ in changes:
            self._stored[ticket.id] = ticket.version
        self._dirty.clear()
