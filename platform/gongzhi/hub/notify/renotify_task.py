"""The re-notification task: every pass (the injected clock decides what is due) it makes the
latest due attempt of each ticket still waiting for an acknowledgement, through the delivery
layer's outbox, and records it in the ticket's timeline.

What was attempted is kept in the store (``renotify_state``: the last attempt per ticket), and
an attempt is claimed there in the transaction that enqueues its messages and writes its
timeline entry: a pass that fails writes nothing, a platform restarted in between neither loses
the attempt that is due (the next pass makes it) nor makes one twice (the claim is taken once,
also between replicas). A ticket opened in a maintenance window is marked silenced by it once
and nobody is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from gongzhi.core.clock import Clock
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.notify.renotify import Attempt, latest_due, plan
from gongzhi.hub.notify.roster_desk import DutyDesk
from gongzhi.hub.notify.windows import Window, silencing
from gongzhi.hub.periodic import PeriodicTask
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.dialect import insert_for
from gongzhi.hub.store.sql import SqlTx
from gongzhi.hub.store.tables import renotify_state
from gongzhi.hub.tickets import EntryType, Status, Ticket, TimelineEntry, facts_of

log = logging.getLogger(__name__)

BATCH = 100
OPEN_LIMIT = 20_000
# The attempt number a silenced ticket is marked with: no attempt is ever due after it.
SILENCED = 2**31 - 1

_S = renotify_state.c

#: ``enqueue(tx, ticket, attempt, event, now)``: the delivery layer's jobs for an attempt,
#: written in ``tx``; returns how many messages were queued.
Enqueue = Callable[[SqlTx, Ticket, Attempt, str, int], int]


def nothing_queued(_tx: SqlTx, _ticket: Ticket, _attempt: Attempt, _event: str,
                   _now: int) -> int:
    """Where no delivery channel is configured: the attempt is recorded, nobody is reached."""
    return 0


def last_attempts(conn: Connection, ticket_ids: Sequence[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for start in range(0, len(ticket_ids), 500):
        chunk = list(ticket_ids[start:start + 500])
        for row in conn.execute(select(_S.ticket_id, _S.attempt).where(
                _S.ticket_id.in_(chunk))):
            found[int(row[0])] = int(row[1])
    return found


def silenced_by(conn: Connection, ticket_ids: Sequence[int]) -> dict[int, int]:
    """The window that silenced each of ``ticket_ids`` (those it did)."""
    if not ticket_ids:
        return {}
    rows = conn.execute(select(_S.ticket_id, _S.silenced_by).where(
        _S.ticket_id.in_(list(ticket_ids)), _S.silenced_by.is_not(None)))
    return {int(r[0]): int(r[1]) for r in rows}


def claim(conn: Connection, ticket_id: int, attempt: int, now: int,
          window: int | None = None) -> bool:
    """Record ``attempt`` as made if no later one is; False when it already was (another pass
    or replica took it)."""
    stmt = insert_for(conn, renotify_state).values(ticket_id=ticket_id, attempt=attempt,
                                         attempted_at=now, silenced_by=window)
    stmt = stmt.on_conflict_do_update(
        index_elements=["ticket_id"],
        set_={"attempt": stmt.excluded.attempt, "attempted_at": stmt.excluded.attempted_at,
              "silenced_by": stmt.excluded.silenced_by},
        where=_S.attempt < stmt.excluded.attempt).returning(_S.ticket_id)
    return conn.execute(stmt).first() is not None


@dataclass(frozen=True, slots=True)
class Made:
    """What a pass did to one ticket."""

    ticket_id: int
    attempt: Attempt | None  # None: silenced
    queued: int
    window: int | None = None
    outcome: str = "silenced"


def _outcome(attempt: Attempt, queued: int) -> str:
    if not attempt.deliveries:
        return "nobody_on_duty"
    return "queued" if queued else "unreachable"


class Renotifier:
    """``run_once`` makes what is due now on the caller's thread (tests drive it); ``start``
    runs it every ``interval_s`` off the event loop. ``enqueue`` is the delivery layer's."""

    def __init__(self, store: Store, desk: DutyDesk, clock: Clock,
                 enqueue: Enqueue = nothing_queued, interval_s: float = 1.0,
                 metrics: Metrics | None = None) -> None:
        self._store = store
        self._desk = desk
        self._clock = clock
        self.enqueue = enqueue
        self._metrics = metrics
        self._periodic = PeriodicTask("gongzhi-renotify", self.run_once, interval_s)
        self.passes = 0

    def run_once(self) -> list[Made]:
        now = self._clock.now_ms()
        rosters = self._desk.rosters
        if not rosters.parties:
            return []  # nobody is told by name: nothing to attempt
        with self._store.transaction(now) as tx:
            waiting = [t for t in tx.list_tickets(statuses=[Status.OPEN.value],
                                                  limit=OPEN_LIMIT)
                       if t.acknowledged_at is None]
            done = last_attempts(tx.connection, [t.id for t in waiting])
        due = sorted(((t, n) for t in waiting
                      if (n := latest_due(t, rosters, now)) is not None
                      and n > done.get(t.id, -1)), key=lambda item: item[0].id)
        made: list[Made] = []
        if due:
            windows = list(self._desk.windows.windows())
            for start in range(0, len(due), BATCH):
                with self._store.transaction(now) as tx:
                    batch = self._batch(tx, due[start:start + BATCH], windows, now)
                made += batch
                for one in batch:  # counted once committed
                    if self._metrics is not None:
                        self._metrics.inc("gongzhi_renotify_attempts_total", outcome=one.outcome)
        self.passes += 1
        return made

    def _batch(self, tx: SqlTx, due: Iterable[tuple[Ticket, int]], windows: list[Window],
               now: int) -> list[Made]:
        made: list[Made] = []
        zone = self._desk.zone
        for read, number in due:
            ticket = tx.get_ticket(read.id)
            if ticket is None or ticket.status is not Status.OPEN or ticket.acknowledged_at:
                continue  # acknowledged since it was read
            window = silencing(windows, facts_of(ticket, str(ticket.kind), ticket.first_seen),
                               ticket.first_seen, zone)
            if window is not None:
                if claim(tx.connection, ticket.id, SILENCED, now, window.id):
                    tx.add_timeline(ticket.id, TimelineEntry(
                        ts_ms=now, type=EntryType.NOTIFICATION, actor="system",
                        action="silenced", note=window.reason,
                        data={"silenced_by": window.id, "author": window.author,
                              "outcome": "silenced"}))
                    made.append(Made(ticket.id, None, 0, window.id))
                continue
            if not claim(tx.connection, ticket.id, number, now):
                continue
            attempt = plan(ticket, self._desk.rosters, number, now)
            event = "opened" if number == 0 else "reminder"
            queued = self.enqueue(tx, ticket, attempt, event, now)
            outcome = _outcome(attempt, queued)
            tx.add_timeline(ticket.id, TimelineEntry(
                ts_ms=now, type=EntryType.NOTIFICATION, actor="system",
                action="notify" if number == 0 else "renotify",
                data={**attempt.to_dict(), "queued": queued, "outcome": outcome}))
            made.append(Made(ticket.id, attempt, queued, outcome=outcome))
        return made

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
