"""Declared absences in the ticket store (tables ``absences`` and ``absence_holds`` of the store's
migrations): every platform replica on one database sees the same absences, and a welfare alarm
held by one replica is held on the absence all of them show. Declaring and ending are audited in
the transaction that makes them.

Before the store kept them, a platform kept its absences in ``away.json`` in its data directory.
``import_legacy`` takes such a file in once, when the store is first ready: each of its absences
(with the alarms it held) becomes a row, under a new number, and the file is renamed
``away.json.imported``. An absence is recognised by its whole record (``origin``), so a second
import of the same file (a start that ended between the commit and the renaming, two replicas
sharing a data directory) adds nothing. A file that cannot be read is left where it is, and the
platform says so in its log at every start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.core.clock import Clock
from gongzhi.devices.registry import Registry
from gongzhi.hub.away import Absence, holdable
from gongzhi.hub.periodic import PeriodicTask
from gongzhi.hub.service import AlarmOutcome
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.dialect import insert_for
from gongzhi.hub.store.records import AuditEntry
from gongzhi.hub.store.tables import absence_holds, absences, alarm_receipts

log = logging.getLogger(__name__)

LEGACY_FILE = "away.json"
IMPORTED_SUFFIX = ".imported"

_A = absences.c
_H = absence_holds.c


def _read(conn: Connection, *where: Any) -> list[Absence]:
    """The absences matching ``where``, in number order, each with the alarms it held."""
    rows = list(conn.execute(select(absences).where(*where).order_by(_A.id)).mappings())
    held: dict[int, list[str]] = {}
    if rows:
        found = conn.execute(select(_H.absence_id, _H.alarm_id)
                             .where(_H.absence_id.in_([int(r["id"]) for r in rows]))
                             .order_by(_H.id))
        for absence_id, alarm_id in found:
            held.setdefault(int(absence_id), []).append(str(alarm_id))
    return [Absence(id=int(r["id"]), estate_id=r["estate_id"], household=r["household"],
                    starts_at=int(r["starts_at"]), ends_at=int(r["ends_at"]),
                    declared_by=r["declared_by"], note=r["note"],
                    created_at=int(r["created_at"]),
                    ended_at=None if r["ended_at"] is None else int(r["ended_at"]),
                    held=tuple(held.get(int(r["id"]), ()))) for r in rows]


def _one(conn: Connection, absence_id: int) -> Absence | None:
    found = _read(conn, _A.id == absence_id)
    return found[0] if found else None


def _hold(conn: Connection, absence_id: int,
          alarms: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Record the alarms (id, the alarm if known) on the absence; one already recorded is left
    as it is."""
    if alarms:
        conn.execute(insert_for(conn, absence_holds).on_conflict_do_nothing(
            index_elements=["absence_id", "alarm_id"]),
            [{"absence_id": absence_id, "alarm_id": a, "alarm": body} for a, body in alarms])


def _audit_detail(absence: Absence) -> dict[str, Any]:
    return {"absence": absence.id, "estate_id": absence.estate_id,
            "household": absence.household, "starts_at": absence.starts_at,
            "ends_at": absence.ends_at, "ended_at": absence.ended_at}


class SqlAbsences:
    """The declared absences of every estate, in the ticket store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def all(self) -> list[Absence]:
        with self._store.transaction(0) as tx:
            return _read(tx.connection)

    def of_household(self, estate_id: str, household: str) -> list[Absence]:
        """One household's absences, in number order."""
        with self._store.transaction(0) as tx:
            return _read(tx.connection, _A.estate_id == estate_id, _A.household == household)

    def declare(self, estate_id: str, household: str, starts_at: int, ends_at: int,
                declared_by: str, note: str, now: int, *, person: str | None = None) -> Absence:
        """Record an absence; ``person``, the roster's id of who declared it from a signed link,
        goes in the audit log beside the party."""
        with self._store.transaction(now) as tx:
            conn = tx.connection
            absence_id = int(conn.execute(absences.insert().values(
                estate_id=estate_id, household=household, starts_at=starts_at,
                ends_at=ends_at, declared_by=declared_by, note=note, created_at=now,
            ).returning(_A.id)).scalar_one())
            absence = _one(conn, absence_id)
            assert absence is not None
            detail = _audit_detail(absence)
            if person is not None:
                detail["person"] = person
            tx.audit(AuditEntry(now, declared_by, "absence_declare", detail=detail))
        return absence

    def end(self, absence_id: int, now: int, by: str) -> Absence | None:
        """Back sooner: the absence ends now (an absence ended before keeps its end)."""
        with self._store.transaction(now) as tx:
            conn = tx.connection
            changed = conn.execute(update(absences).where(
                _A.id == absence_id, _A.ended_at.is_(None)).values(ended_at=now))
            absence = _one(conn, absence_id)
            if absence is not None and changed.rowcount:
                tx.audit(AuditEntry(now, by, "absence_end", detail=_audit_detail(absence)))
        return absence

    def hold(self, alarm: Alarm, registry: Registry) -> Absence | None:
        """The absence that holds ``alarm`` (a welfare check RAISE of a household inside it),
        recorded on it; None when the alarm is to make its ticket as usual. Every other alarm
        is answered without asking the database."""
        place = holdable(alarm, registry)
        if place is None:
            return None
        estate_id, household = place
        ts = alarm.ts_ms
        with self._store.transaction(0) as tx:
            conn = tx.connection
            covering = conn.scalars(select(_A.id).where(
                _A.estate_id == estate_id, _A.household == household, _A.starts_at <= ts,
                _A.ends_at > ts, (_A.ended_at.is_(None)) | (_A.ended_at > ts),
            ).order_by(_A.id).limit(1)).first()
            if covering is None:
                return None
            _hold(conn, int(covering), [(alarm.alarm_id, alarm.to_dict())])
            return _one(conn, int(covering))


@dataclass(frozen=True, slots=True)
class Released:
    """A held alarm acted on at its absence's end: ``ticket_id`` the ticket it made, None when
    a sign of life had cleared it."""

    absence_id: int
    alarm_id: str
    ticket_id: int | None


# A person back when the absence ends shows a sign of life within this time of its end; the
# gateway never raises a silence of a waking person shorter than 4 h either (its silent_gap).
RETURN_GRACE_MS = 4 * 3_600_000


class AbsenceEnds:
    """A person not back when a declared absence ends: the gateway raised the silence once,
    inside the absence, where it was held; nothing later is raised for the same silence. So
    ``grace_ms`` after the absence ends (its end passes, or the committee ends it sooner), each
    alarm it held that no CLEAR (a sign of life) has followed makes its ticket then, through
    ``receive`` (the ticket service's intake: exactly one ticket per alarm id, on every
    replica), opened then with its SLA from then; the absence is named in its evidence.
    ``run_once`` does one pass (tests drive it); ``start`` runs it every ``interval_s``."""

    def __init__(self, store: Store, receive: Callable[[Alarm], AlarmOutcome], clock: Clock,
                 interval_s: float = 1.0, grace_ms: int = RETURN_GRACE_MS) -> None:
        self._store = store
        self._receive = receive
        self._clock = clock
        self._grace_ms = grace_ms
        self._periodic = PeriodicTask("gongzhi-absence-ends", self.run_once, interval_s)

    def run_once(self) -> list[Released]:
        now = self._clock.now_ms()
        ended = now - self._grace_ms
        with self._store.transaction(now) as tx:
            conn = tx.connection
            due = list(conn.execute(
                select(_H.id, _H.absence_id, _H.alarm, _A.ends_at, _A.ended_at)
                .join_from(absence_holds, absences, _A.id == _H.absence_id)
                .where(_H.released_at.is_(None), _H.alarm.is_not(None),
                       (_A.ends_at <= ended) | (_A.ended_at <= ended))
                .order_by(_H.id)))
            cleared = set(conn.scalars(select(alarm_receipts.c.alarm_id).where(
                alarm_receipts.c.alarm_id.in_([row.alarm["alarm_id"] for row in due]),
                alarm_receipts.c.state == AlarmState.CLEAR.value))) if due else set()
        released: list[Released] = []
        for hold_id, absence_id, body, ends_at, ended_at in due:
            alarm = Alarm.from_dict(body)
            ticket_id = None
            if alarm.alarm_id not in cleared:
                until = ends_at if ended_at is None else min(ends_at, ended_at)
                ticket_id = self._receive(replace(alarm, evidence={
                    **alarm.evidence,
                    "declared_absence": {"id": absence_id, "ended_at": until}})).ticket_id
                log.info("declared absence %s ended with alarm %s still active: ticket %s",
                         absence_id, alarm.alarm_id, ticket_id)
            with self._store.transaction(now) as tx:
                tx.connection.execute(update(absence_holds).where(_H.id == hold_id)
                                      .values(released_at=now))
            released.append(Released(int(absence_id), alarm.alarm_id, ticket_id))
        return released

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()


def _origin(absence: Absence) -> str:
    """The legacy record's identity: its whole content (the same absence in a file imported
    again, or in the same file seen by two replicas, is one row)."""
    record = json.dumps(absence.to_dict(), sort_keys=True, ensure_ascii=False)
    return f"{LEGACY_FILE}:{hashlib.sha256(record.encode('utf-8')).hexdigest()}"


def _renamed(path: Path) -> Path:
    """``away.json.imported``, or ``.imported.2`` and on when that name is taken: an earlier
    import's file is never overwritten."""
    target = path.with_name(path.name + IMPORTED_SUFFIX)
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}{IMPORTED_SUFFIX}.{n}")
        n += 1
    return target


def import_legacy(store: Store, path: Path, now: int) -> int | None:
    """Bring the absences of a legacy ``away.json`` into ``store`` (migrated) and rename the
    file; returns how many absences were new to the store, None when the file is absent or
    cannot be read (logged; the file is kept). Errors of the database propagate (the caller
    tries again later: the file is still there)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None  # none, or another replica of this data directory took it in
    except OSError as exc:
        log.error("the declared absences of %s cannot be read (%s): not imported, the file is "
                  "kept; fix its permissions and restart the platform", path, exc)
        return None
    try:
        records = json.loads(text)
        if not isinstance(records, list):
            raise ValueError("not a list of absences")
        legacy = [Absence.from_dict(d) for d in records]
    except ValueError as exc:
        log.error("the declared absences of %s are not readable (%s): not imported, the file "
                  "is kept; repair it (a list of absences as the platform wrote them) and "
                  "restart the platform", path, exc)
        return None
    numbers: dict[int, int] = {}
    with store.transaction(now) as tx:
        conn = tx.connection
        for absence in legacy:
            origin = _origin(absence)
            new_id = conn.scalars(insert_for(conn, absences).values(
                estate_id=absence.estate_id, household=absence.household,
                starts_at=absence.starts_at, ends_at=absence.ends_at,
                declared_by=absence.declared_by, note=absence.note,
                created_at=absence.created_at, ended_at=absence.ended_at, origin=origin,
            ).on_conflict_do_nothing(index_elements=["origin"]).returning(_A.id)).first()
            if new_id is None:  # imported before
                new_id = conn.scalars(select(_A.id).where(_A.origin == origin)).one()
            else:
                numbers[absence.id] = int(new_id)
            _hold(conn, int(new_id), [(a, None) for a in absence.held])
        tx.audit(AuditEntry(now, "platform", "absences_import", detail={
            "file": str(path), "absences": len(legacy), "new": len(numbers),
            "numbers": {str(old): new for old, new in numbers.items()}}))
    target = _renamed(path)
    with contextlib.suppress(FileNotFoundError):  # another replica of this directory renamed it
        os.replace(path, target)
    log.info("declared absences of %s imported into the database (%d new of %d, numbered "
             "anew: %s); the file is now %s", path, len(numbers), len(legacy),
             ", ".join(f"{old} -> {new}" for old, new in numbers.items()) or "none", target)
    return len(numbers)
