"""The residents' committee's visits in the ticket store (table ``visits``): every replica on one
database sees the same. Recording one is audited in the transaction that makes it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gongzhi.hub.store.base import Store
from gongzhi.hub.store.records import AuditEntry
from gongzhi.hub.store.tables import visits
from gongzhi.hub.visits import Outcome, Visit

_V = visits.c


def _visit(row: Any) -> Visit:
    return Visit(id=int(row["id"]), estate_id=row["estate_id"], household=row["household"],
                 visited_at=int(row["visited_at"]), outcome=Outcome(row["outcome"]),
                 note=row["note"], recorded_by=row["recorded_by"],
                 created_at=int(row["created_at"]))


class SqlVisits:
    """The visits of every estate, in the ticket store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, estate_id: str, household: str, visited_at: int, outcome: Outcome,
               note: str, recorded_by: str, now: int) -> Visit:
        with self._store.transaction(now) as tx:
            conn = tx.connection
            visit_id = int(conn.execute(visits.insert().values(
                estate_id=estate_id, household=household, visited_at=visited_at,
                outcome=outcome.value, note=note, recorded_by=recorded_by, created_at=now,
            ).returning(_V.id)).scalar_one())
            row = conn.execute(select(visits).where(_V.id == visit_id)).mappings().one()
            tx.audit(AuditEntry(now, recorded_by, "visit_record", detail={
                "visit": visit_id, "estate_id": estate_id, "household": household,
                "visited_at": visited_at, "outcome": outcome.value}))
        return _visit(row)

    def between(self, start_ms: int, end_ms: int) -> list[Visit]:
        """The visits made in ``[start_ms, end_ms)``, in the order made."""
        with self._store.transaction(0) as tx:
            rows = tx.connection.execute(
                select(visits).where(_V.visited_at >= start_ms, _V.visited_at < end_ms)
                .order_by(_V.visited_at, _V.id)).mappings()
            return [_visit(r) for r in rows]
