"""Residents' reports in the ticket store (tables ``resident_reports`` and
``resident_report_photos``, made by the store's migrations from ``MIGRATION``), written and read
in the store's transactions. Photos are kept in the database (so every replica serves them and
a backup holds them), at most three per report, each cleaned and bounded by ``photos``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from gongzhi.hub.notify.windows_store import connection_of
from gongzhi.hub.reports.categories import Category
from gongzhi.hub.reports.photos import CleanPhoto
from gongzhi.hub.store.base import Store

metadata = MetaData()

resident_reports = Table(
    "resident_reports", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("estate_id", Text(), nullable=False),
    Column("building", Text(), nullable=False),
    Column("category", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("phone", Text()),
    Column("photos", Integer(), nullable=False),
    Column("created_at", BigInteger(), nullable=False),
    Column("track_hash", Text()),
    Column("ticket_id", BigInteger()),
    Column("rating", Integer()),
    Column("rating_comment", Text()),
    Column("rated_at", BigInteger()),
)

resident_report_photos = Table(
    "resident_report_photos", metadata,
    Column("report_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("idx", Integer(), primary_key=True, autoincrement=False),
    Column("media_type", Text(), nullable=False),
    Column("width", Integer(), nullable=False),
    Column("height", Integer(), nullable=False),
    Column("data", LargeBinary(), nullable=False),
)

_R = resident_reports.c
_P = resident_report_photos.c

#: The migration's statements (``{pk}`` and ``{big}`` filled per dialect by the store). BYTEA is
#: PostgreSQL's binary type; SQLite keeps a blob as it is in a column of any declared type.
MIGRATION = (
    """CREATE TABLE resident_reports (
        id {pk},
        estate_id TEXT NOT NULL,
        building TEXT NOT NULL,
        category TEXT NOT NULL,
        body TEXT NOT NULL,
        phone TEXT,
        photos INTEGER NOT NULL,
        created_at {big} NOT NULL,
        track_hash TEXT,
        ticket_id {big},
        rating INTEGER,
        rating_comment TEXT,
        rated_at {big}
    )""",
    "CREATE INDEX resident_reports_ticket ON resident_reports (ticket_id)",
    "CREATE INDEX resident_reports_estate ON resident_reports (estate_id, created_at)",
    """CREATE TABLE resident_report_photos (
        report_id {big} NOT NULL,
        idx INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (report_id, idx)
    )""",
)


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
            conn = connection_of(tx)
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
            connection_of(tx).execute(update(resident_reports).where(_R.id == report_id)
                                      .values(ticket_id=ticket_id, track_hash=track_hash))

    def get(self, report_id: int) -> StoredReport | None:
        with self._store.transaction(0) as tx:
            return self._one(connection_of(tx),
                             select(resident_reports).where(_R.id == report_id))

    def by_ticket(self, ticket_id: int) -> StoredReport | None:
        with self._store.transaction(0) as tx:
            return self._one(connection_of(tx),
                             select(resident_reports).where(_R.ticket_id == ticket_id))

    def photo(self, report_id: int, idx: int) -> tuple[str, bytes] | None:
        with self._store.transaction(0) as tx:
            row = connection_of(tx).execute(
                select(_P.media_type, _P.data).where(_P.report_id == report_id,
                                                     _P.idx == idx)).first()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def rate(self, report_id: int, rating: int, comment: str | None, now: int) -> bool:
        """Record the rating unless one was given already (a report is rated once)."""
        with self._store.transaction(now) as tx:
            done = connection_of(tx).execute(
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
            rows = connection_of(tx).execute(stmt.order_by(_R.id).limit(limit)).mappings()
            return [_report(r) for r in rows]

    def count(self) -> int:
        with self._store.transaction(0) as tx:
            return int(connection_of(tx).execute(
                select(func.count()).select_from(resident_reports)).scalar_one())

    def add_many(self, reports: Sequence[tuple[NewReport, int, int | None, int | None]]) -> None:
        """Bulk rows (new report, made at, its ticket, its rating) without photos, for loading
        figures (benches, tests)."""
        if not reports:
            return
        with self._store.transaction(0) as tx:
            connection_of(tx).execute(insert(resident_reports), [
                {"estate_id": r.estate_id, "building": r.building, "category": r.category.value,
                 "body": r.body, "phone": r.phone, "photos": 0, "created_at": at,
                 "ticket_id": ticket_id, "rating": rating,
                 "rated_at": None if rating is None else at}
                for r, at, ticket_id, rating in reports])
