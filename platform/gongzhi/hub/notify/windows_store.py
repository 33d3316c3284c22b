"""Maintenance windows in the ticket store (table ``maintenance_windows`` of the store's
migrations), behind the ``WindowRepository`` interface; every change is audited in the
transaction that makes it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from gongzhi.hub.notify.windows import NewWindow, Target, Weekly, Window
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.records import AuditEntry
from gongzhi.hub.store.sql import SqlTx
from gongzhi.hub.store.tables import maintenance_windows

_W = maintenance_windows.c


def _window(row: Any) -> Window:
    target = json.loads(row["target"])
    weekly = None
    if row["weekdays"] is not None:
        weekly = Weekly(frozenset(int(d) for d in row["weekdays"].split(",")),
                        int(row["slot_start_min"]), int(row["slot_length_min"]))
    return Window(
        id=int(row["id"]),
        target=Target(target.get("estate"), target.get("building"), target.get("riser"),
                      target.get("device"),
                      frozenset(target["kinds"]) if target.get("kinds") is not None else None),
        author=row["author"], reason=row["reason"], starts_at=int(row["starts_at"]),
        ends_at=int(row["ends_at"]), created_at=int(row["created_at"]), weekly=weekly,
        ended_at=None if row["ended_at"] is None else int(row["ended_at"]),
        ended_by=row["ended_by"])


def _audit(tx: SqlTx, actor: str, action: str, window: Window, now: int) -> None:
    tx.audit(AuditEntry(now, actor, action, detail={
        "window": window.id, "target": window.target.to_dict(), "reason": window.reason,
        "starts_at": window.starts_at, "ends_at": window.ends_at,
        "weekly": window.weekly.to_dict() if window.weekly else None,
        "ended_at": window.ended_at}))


class SqlWindows:
    """``WindowRepository`` in the ticket store; every change is audited in its transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _rows(conn: Connection, stmt: Any) -> Iterator[Window]:
        return (_window(r) for r in conn.execute(stmt).mappings())

    def _one(self, conn: Connection, window_id: int) -> Window | None:
        return next(self._rows(conn, select(maintenance_windows).where(_W.id == window_id)),
                    None)

    def add_window(self, new: NewWindow, now: int) -> Window:
        weekly = new.weekly
        with self._store.transaction(now) as tx:
            conn = tx.connection
            window_id = int(conn.execute(insert(maintenance_windows).values(
                target=json.dumps(new.target.to_dict(), separators=(",", ":")),
                author=new.author, reason=new.reason, starts_at=new.starts_at,
                ends_at=new.ends_at, created_at=now,
                weekdays=",".join(str(d) for d in sorted(weekly.weekdays)) if weekly else None,
                slot_start_min=weekly.start_min if weekly else None,
                slot_length_min=weekly.length_min if weekly else None,
            ).returning(_W.id)).scalar_one())
            window = self._one(conn, window_id)
            assert window is not None
            _audit(tx, new.author, "window_create", window, now)
        return window

    def end_window(self, window_id: int, by: str, now: int) -> Window | None:
        with self._store.transaction(now) as tx:
            conn = tx.connection
            changed = conn.execute(update(maintenance_windows).where(
                _W.id == window_id, _W.ends_at > now,
                or_(_W.ended_at.is_(None), _W.ended_at > now)).values(ended_at=now, ended_by=by))
            window = self._one(conn, window_id)
            if window is not None and changed.rowcount:
                _audit(tx, by, "window_end", window, now)
        return window

    def get_window(self, window_id: int) -> Window | None:
        with self._store.transaction(0) as tx:
            return self._one(tx.connection, window_id)

    def windows(self, *, closing_after: int | None = None) -> Sequence[Window]:
        stmt = select(maintenance_windows).order_by(_W.id)
        if closing_after is not None:
            stmt = stmt.where(_W.ends_at > closing_after,
                              or_(_W.ended_at.is_(None), _W.ended_at > closing_after))
        with self._store.transaction(0) as tx:
            return list(self._rows(tx.connection, stmt))
