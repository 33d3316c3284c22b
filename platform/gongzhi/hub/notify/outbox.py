"""The notification outbox: one row per message to send (a ticket, a person, a channel), written
in the transaction that changes the ticket, sent later by the dispatcher.

- ``notify_outbox``: the jobs. ``key`` is unique (the idempotency key: the same notification
  planned twice, e.g. after a restart, is one job); ``state`` is ``pending``, ``sent``,
  ``failed`` (with ``last_error``) or ``fallback`` (handed to the next channel of its person);
  a job is leased (``lease_owner``, ``lease_until``) while a dispatcher works on it.
- ``notify_attempts``: every message sent or tried (a digest is one row for many jobs): what
  the per-channel figures, the per-number daily caps and the restart of a dispatcher's token
  buckets are counted from.
- ``notify_leader``: one row; the dispatcher holding its lease is the only one sending, so two
  replicas never both send and the providers' limits hold for the whole installation.

Each attempt's outcome also goes into the ticket's timeline (type ``notification``) in the
transaction that records it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)

from gongzhi.hub.notify.message import Notice
from gongzhi.hub.store.dialect import insert_for
from gongzhi.hub.store.schema import DIALECTS, statements
from gongzhi.hub.store.tables import notify_attempts, notify_leader, notify_outbox, timeline

PENDING, SENT, FAILED, FALLBACK = "pending", "sent", "failed", "fallback"
LEADER_ROW = "dispatcher"

# The store's migration that makes this module's tables (create_tables, without the store).
MIGRATION_VERSION = 3


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class Target:
    """Where one message goes: a configured channel, an address on it, for a person."""

    channel: str
    address: str = ""
    mentions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "address": self.address,
                "mentions": list(self.mentions)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Target:
        return cls(str(d["channel"]), str(d.get("address", "")),
                   tuple(str(m) for m in d.get("mentions", ())))


@dataclass(frozen=True, slots=True)
class NewJob:
    key: str
    party: str
    recipient: str
    recipient_name: str
    language: str
    notice: Notice
    target: Target
    fallback: tuple[Target, ...] = ()


@dataclass(frozen=True, slots=True)
class Job(NewJob):
    """A job as the outbox holds it."""

    id: int = 0
    created_at: int = 0
    attempts: int = 0

    @property
    def ticket_id(self) -> int:
        return self.notice.ticket_id

    @property
    def severity(self) -> str:
        return self.notice.severity


@dataclass(frozen=True, slots=True)
class Finish:
    """What becomes of a job after an attempt (or a decision not to try now)."""

    job: Job
    state: str  # PENDING (again), SENT, FAILED or FALLBACK
    next_attempt_at: int = 0
    attempted: bool = False  # counts as an attempt (the provider was asked)
    via: str | None = None
    error: str | None = None
    timeline_note: str | None = None  # None: nothing for the timeline
    timeline_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AttemptRow:
    ts_ms: int
    channel: str
    address: str
    key: str
    jobs: int
    tickets: int
    digest: bool
    result: str
    detail: str


def enqueue(conn: Connection, jobs: Sequence[NewJob], now: int) -> int:
    """Add ``jobs`` in the caller's transaction (a ticket change); a key already there is left
    as it is. Returns how many were new."""
    if not jobs:
        return 0
    rows = [_row(job, now) for job in jobs]
    stmt = insert_for(conn, notify_outbox).on_conflict_do_nothing(index_elements=["key"])
    result = conn.execute(stmt, rows)
    return max(int(result.rowcount or 0), 0)


def _row(job: NewJob, now: int) -> dict[str, Any]:
    return {"key": job.key, "ticket_id": job.notice.ticket_id, "party": job.party,
            "recipient": job.recipient, "recipient_name": job.recipient_name,
            "channel": job.target.channel, "address": job.target.address,
            "language": job.language, "mentions": _dumps(list(job.target.mentions)),
            "severity": job.notice.severity, "notice": _dumps(job.notice.to_dict()),
            "fallback": _dumps([t.to_dict() for t in job.fallback]), "created_at": now,
            "attempts": 0, "next_attempt_at": now, "lease_owner": None, "lease_until": None,
            "state": PENDING, "done_at": None, "via": None, "last_error": None}


def _job(row: Any) -> Job:
    m = row._mapping
    return Job(id=int(m["id"]), key=m["key"], party=m["party"], recipient=m["recipient"],
               recipient_name=m["recipient_name"], language=m["language"],
               notice=Notice.from_dict(json.loads(m["notice"])),
               target=Target(m["channel"], m["address"], tuple(json.loads(m["mentions"]))),
               fallback=tuple(Target.from_dict(t) for t in json.loads(m["fallback"])),
               created_at=int(m["created_at"]), attempts=int(m["attempts"]))


Begin = Callable[[], AbstractContextManager[Connection]]


class NotifyOutbox:
    """The outbox over ``begin``: a connection in a transaction of the ticket store's database
    (the store's own transactions in the platform, so its locking applies)."""

    def __init__(self, begin: Begin) -> None:
        self._begin = begin

    @classmethod
    def over_engine(cls, engine: Engine) -> NotifyOutbox:
        """Transactions straight on ``engine`` (tools and tests of this module alone)."""
        return cls(engine.begin)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._begin() as conn:
            yield conn

    def create_tables(self) -> None:
        """The migration's tables, for a database without the store's migrations (tools and
        tests of this module alone)."""
        with self._tx() as conn:
            for statement in statements(DIALECTS[conn.dialect.name], MIGRATION_VERSION):
                conn.exec_driver_sql(statement)

    def lead(self, owner: str, now: int, lease_ms: int) -> bool:
        """Take or keep the dispatcher's lease; True while ``owner`` holds it."""
        with self._tx() as conn:
            taken = conn.execute(
                update(notify_leader)
                .where(notify_leader.c.name == LEADER_ROW)
                .where(or_(notify_leader.c.owner == owner, notify_leader.c.lease_until <= now))
                .values(owner=owner, lease_until=now + lease_ms)).rowcount
            if taken:
                return True
            exists = conn.execute(select(notify_leader.c.owner)
                                  .where(notify_leader.c.name == LEADER_ROW)).first()
            if exists is not None:
                return False
            conn.execute(_insert_ignore(conn, notify_leader), [
                {"name": LEADER_ROW, "owner": owner, "lease_until": now + lease_ms}])
            row = conn.execute(select(notify_leader.c.owner)
                               .where(notify_leader.c.name == LEADER_ROW)).first()
            return row is not None and row[0] == owner

    def claim(self, owner: str, now: int, lease_ms: int, limit: int = 1000) -> list[Job]:
        """Lease the pending jobs due at ``now`` (oldest first) for ``owner``."""
        free = or_(notify_outbox.c.lease_until.is_(None), notify_outbox.c.lease_until <= now,
                   notify_outbox.c.lease_owner == owner)
        return self._lease(and_(notify_outbox.c.state == PENDING,
                                notify_outbox.c.next_attempt_at <= now, free),
                           owner, now, lease_ms, limit)

    def claim_waiting(self, owner: str, now: int, lease_ms: int, channel: str,
                      address: str) -> list[Job]:
        """Lease the jobs of one destination that only wait for its next token (due later,
        never tried and failed): a message going there now carries them too."""
        return self._lease(and_(
            notify_outbox.c.state == PENDING, notify_outbox.c.channel == channel,
            notify_outbox.c.address == address, notify_outbox.c.last_error.is_(None),
            notify_outbox.c.next_attempt_at > now,
            or_(notify_outbox.c.lease_until.is_(None), notify_outbox.c.lease_until <= now)),
            owner, now, lease_ms, None)

    def _lease(self, which: Any, owner: str, now: int, lease_ms: int,
               limit: int | None) -> list[Job]:
        """Lease the jobs ``which`` selects; those another owner leased first are left out."""
        with self._tx() as conn:
            ids = [r[0] for r in conn.execute(
                select(notify_outbox.c.id).where(which).order_by(notify_outbox.c.id)
                .limit(limit))]
            if not ids:
                return []
            conn.execute(update(notify_outbox).where(notify_outbox.c.id.in_(ids)).where(which)
                         .values(lease_owner=owner, lease_until=now + lease_ms))
            rows = conn.execute(select(notify_outbox).where(notify_outbox.c.id.in_(ids))
                                .where(notify_outbox.c.lease_owner == owner)
                                .where(notify_outbox.c.state == PENDING)
                                .order_by(notify_outbox.c.id)).fetchall()
        return [_job(r) for r in rows]

    def finish(self, owner: str, now: int, finished: Sequence[Finish],
               attempts: Sequence[AttemptRow] = (), new_jobs: Sequence[NewJob] = ()) -> None:
        """Record what became of leased jobs, the attempts made, the jobs they fell back to
        and the timeline entries, in one transaction. A job whose lease was lost to another
        owner is left to that owner."""
        with self._tx() as conn:
            enqueue(conn, new_jobs, now)
            entries: list[dict[str, Any]] = []
            for item in finished:
                done = item.state in (SENT, FAILED, FALLBACK)
                changed = conn.execute(
                    update(notify_outbox)
                    .where(notify_outbox.c.id == item.job.id)
                    .where(notify_outbox.c.lease_owner == owner)
                    .where(notify_outbox.c.state == PENDING)
                    .values(state=item.state,
                            attempts=notify_outbox.c.attempts + int(item.attempted),
                            next_attempt_at=item.next_attempt_at if not done else now,
                            lease_owner=None, lease_until=None,
                            done_at=now if done else None, via=item.via,
                            last_error=item.error)).rowcount
                if changed and item.timeline_note is not None:
                    entries.append({
                        "ticket_id": item.job.ticket_id, "ts_ms": now, "type": "notification",
                        "actor": "system", "action": item.state, "note": item.timeline_note,
                        "rule_id": None, "data": dict(item.timeline_data)})
            if entries:
                conn.execute(insert(timeline), entries)
            if attempts:
                conn.execute(insert(notify_attempts), [
                    {"ts_ms": a.ts_ms, "channel": a.channel, "address": a.address, "key": a.key,
                     "jobs": a.jobs, "tickets": a.tickets, "digest": int(a.digest),
                     "result": a.result, "detail": a.detail} for a in attempts])

    def sent_since(self, channel: str, address: str, since: int) -> int:
        """Messages the provider took for ``address`` on ``channel`` since ``since``."""
        with self._tx() as conn:
            return int(conn.execute(
                select(func.count()).select_from(notify_attempts)
                .where(notify_attempts.c.channel == channel)
                .where(notify_attempts.c.address == address)
                .where(notify_attempts.c.ts_ms >= since)
                .where(notify_attempts.c.result == "sent")).scalar_one())

    def requests_since(self, since: int) -> Counter[str]:
        """Requests made to each channel since ``since`` (any outcome): a new dispatcher starts
        its buckets from these."""
        with self._tx() as conn:
            rows = conn.execute(select(notify_attempts.c.channel, func.count())
                                .where(notify_attempts.c.ts_ms >= since)
                                .group_by(notify_attempts.c.channel)).fetchall()
        return Counter({str(r[0]): int(r[1]) for r in rows})

    def attempts(self, since: int = 0) -> list[AttemptRow]:
        with self._tx() as conn:
            rows = conn.execute(select(notify_attempts).where(notify_attempts.c.ts_ms >= since)
                                .order_by(notify_attempts.c.id)).fetchall()
        return [AttemptRow(r.ts_ms, r.channel, r.address, r.key, r.jobs, r.tickets,
                           bool(r.digest), r.result, r.detail) for r in rows]

    def states(self) -> Counter[str]:
        with self._tx() as conn:
            rows = conn.execute(select(notify_outbox.c.state, func.count())
                                .group_by(notify_outbox.c.state)).fetchall()
        return Counter({str(r[0]): int(r[1]) for r in rows})

    def jobs(self, ticket_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Every job (or those of ``ticket_ids``) as plain rows, oldest first."""
        stmt = select(notify_outbox).order_by(notify_outbox.c.id)
        if ticket_ids is not None:
            stmt = stmt.where(notify_outbox.c.ticket_id.in_(list(ticket_ids)))
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def backlog(self) -> int:
        with self._tx() as conn:
            return sum(backlog(conn).values())


def backlog(conn: Connection) -> Counter[str]:
    """Jobs not sent yet, by channel (read in the caller's transaction)."""
    rows = conn.execute(select(notify_outbox.c.channel, func.count())
                        .where(notify_outbox.c.state == PENDING)
                        .group_by(notify_outbox.c.channel)).fetchall()
    return Counter({str(r[0]): int(r[1]) for r in rows})


def _insert_ignore(conn: Connection, target: Table) -> Any:
    return insert_for(conn, target).on_conflict_do_nothing()
