"""Residents' reports in the ticket store (tables ``resident_reports`` and
``resident_report_photos``, made by the store's migration 4), written and read in the store's
transactions. Photos are kept in the database (so every replica serves them and
a backup holds them), at most three per report, each cleaned and bounded by ``photos``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gongzhi.hub.reports.categories import Category
from gongzhi.hub.reports.photos import CleanPhoto
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.tables import resident_report_photos, resident_reports

_R = resident_reports.c
_P = resident_report_photos.c


@dataclass(frozen=True, slots=True)
class NewReport:
    estate_id: str
    building: str
    category: Category
    body: str
    phone: str | None
    photos: tuple[CleanPhoto, ...]


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: int
    estate_id: str
    building: str
    category: Category
    body: str
    phone: str | None
    photos: int
    created_at: int
    track_hash: str | None
    ticket_id: int | None
    rating: int | None
    rating_comment: str | None
    rated_at: int | None


def _report(row: Any) -> StoredReport:
    return StoredReport(
        id=int(row["id"]), estate_id=row["estate_id"], building=row["building"],
        category=Category(row["category"]), body=row["body"], phone=row["phone"],
        photos=int(row["photos"]), created_at=int(row["created_at"]),
        track_hash=row["track_hash"],
        ticket_id=None if row["ticket_id"] is None else int(row["ticket_id"]),
        rating=None if row["rating"] is None else int(row["rating"]),
        rating_comment=row["rating_comment"],
        rated_at=None if row["rated_at"] is None else int(row["rated_at"]))


class SqlReports:
    """The reports' repository over the ticket store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _one(conn: Connection, stmt: Any) -> StoredReport | None:
        row = conn.execute(stmt).mappings().first()
        return None if row is None else _report(row)

    def add(self, new: NewReport, now: int) -> int:
        with self._store.transaction(now) as tx:
            conn = tx.connection
            report_id = int(conn.execute(insert(resident_reports).values(
                estate_id=new.estate_id, building=new.building, category=new.category.value,
                body=new.body, phone=new.phone, photos=len(new.photos), created_at=now,
            ).returning(_R.id)).scalar_one())
            if new.photos:
                conn.execute(insert(resident_report_photos), [
                    {"report_id": report_id, "idx": i, "media_type": p.media_type,
                     "width": p.width, "height": p.height, "data": p.data}
                    for i, p in enumerate(new.photos)])
        return report_id

    def attach(self, report_id: int, *, ticket_id: int, track_hash: str, now: int) -> None:
        with self._store.transaction(now) as tx:
            tx.connection.execute(update(resident_reports).where(_R.id == report_id)
                                      .values(ticket_id=ticket_id, track_hash=track_hash))

    def get(self, report_id: int) -> StoredReport | None:
        with self._store.transaction(0) as tx:
            return self._one(tx.connection,
                             select(resident_reports).where(_R.id == report_id))

    def orphans(self, *, before: int, limit: int = 20) -> list[StoredReport]:
        """Reports made before ``before`` that have no ticket, oldest first."""
        with self._store.transaction(0) as tx:
            rows = tx.connection.execute(
                select(resident_reports).where(_R.ticket_id.is_(None), _R.created_at < before)
                .order_by(_R.id).limit(limit)).mappings()
            return [_report(r) for r in rows]

    def by_ticket(self, ticket_id: int) -> StoredReport | None:
        with self._store.transaction(0) as tx:
            return self._one(tx.connection,
                             select(resident_reports).where(_R.ticket_id == ticket_id))

    def photo(self, report_id: int, idx: int) -> tuple[str, bytes] | None:
        with self._store.transaction(0) as tx:
            row = tx.connection.execute(
                select(_P.media_type, _P.data).where(_P.report_id == report_id,
                                                     _P.idx == idx)).first()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def rate(self, report_id: int, rating: int, comment: str | None, now: int) -> bool:
        """Record the rating unless one was given already (a report is rated once)."""
        with self._store.transaction(now) as tx:
            done = tx.connection.execute(
                update(resident_reports).where(_R.id == report_id, _R.rating.is_(None))
                .values(rating=rating, rating_comment=comment, rated_at=now))
            return bool(done.rowcount)

    def between(self, start: int, end: int, estate_id: str | None = None,
                limit: int = 200_000) -> list[StoredReport]:
        """Reports made in [start, end), oldest first (for figures: read, never shown)."""
        stmt = select(resident_reports).where(_R.created_at >= start, _R.created_at < end)
        if estate_id is not None:
            stmt = stmt.where(_R.estate_id == estate_id)
        with self._store.transaction(0) as tx:
            rows = tx.connection.execute(stmt.order_by(_R.id).limit(limit)).mappings()
            return [_report(r) for r in rows]

    def count(self) -> int:
        with self._store.transaction(0) as tx:
            return int(tx.connection.execute(
                select(func.count()).select_from(resident_reports)).scalar_one())

    def add_many(self, reports: Sequence[tuple[NewReport, int, int | None, int | None]]) -> None:
        """Bulk rows (new report, made at, its ticket, its rating) without photos, for loading
        figures (benches, tests)."""
        if not reports:
            return
        with self._store.transaction(0) as tx:
            tx.connection.execute(insert(resident_reports), [
                {"estate_id": r.estate_id, "building": r.building, "category": r.category.value,
                 "body": r.body, "phone": r.phone, "photos": 0, "created_at": at,
                 "ticket_id": ticket_id, "rating": rating,
                 "rated_at": None if rating is None else at}
                for r, at, ticket_id, rating in reports])
