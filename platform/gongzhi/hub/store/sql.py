"""The repository: every statement the platform runs, built with SQLAlchemy Core from the
tables of ``tables`` and compiled by SQLAlchemy for SQLite or PostgreSQL.

A ``SqlTx`` lives for one transaction. Ticket changes are conditional on the version read
(``save``), so two writers (threads or replicas) never overwrite each other: the loser re-reads.
Events published in a transaction get their sequence number when it commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from gongzhi.hub.duty import Counted, HistoryQuery, Scope
from gongzhi.hub.store.codec import (
    DERIVED,
    ROW_KEYS,
    ticket_decoder,
    ticket_from_record,
    ticket_record,
    ticket_row,
)
from gongzhi.hub.store.driver import DriverStatement, compile_for
from gongzhi.hub.store.records import (
    AuditEntry,
    DeviceState,
    Receipt,
    TicketEvent,
    WebhookJob,
)
from gongzhi.hub.store.tables import (
    alarm_receipts,
    audit_log,
    device_states,
    event_counter,
    schema_migrations,
    ticket_events,
    tickets,
    timeline,
    webhook_outbox,
)
from gongzhi.hub.tickets import EntryType, Ticket, TimelineEntry

ReceiptKey = tuple[str, str]  # (alarm_id, state)
# One history count to make: what to count, for which scope key, since when.
HistoryAsk = tuple[HistoryQuery, str, int]


@dataclass(frozen=True, slots=True)
class _Dialect:
    """What Core leaves to the dialect: INSERT ... ON CONFLICT and the scalar "larger of two"
    (whose arguments must be typed columns: a bare number would be bound as a 32-bit INTEGER
    on PostgreSQL)."""

    insert: Callable[..., Any]
    greatest: Callable[..., Any]

    @property
    def insert_receipts(self) -> Any:
        return (self.insert(alarm_receipts)
                .on_conflict_do_nothing(index_elements=["alarm_id", "state"])
                .returning(alarm_receipts.c.alarm_id, alarm_receipts.c.state))

    @property
    def insert_ticket(self) -> Any:
        return (self.insert(tickets).on_conflict_do_nothing(index_elements=["open_key"])
                .returning(*_READ))


_READ = [c for c in tickets.c if c.name != DERIVED]
_decode = ticket_decoder([c.name for c in _READ])
_T = tickets.c
_DIALECTS = {
    "sqlite": _Dialect(sqlite.insert, func.max),
    "postgresql": _Dialect(postgresql.insert, func.greatest),
}
# The statements of the alarm path, built once: building a statement over every ticket column
# costs more than running it on SQLite. Parameters are bound by name when they run.
_INSERT_RECEIPTS = {name: d.insert_receipts for name, d in _DIALECTS.items()}
_RECEIPT_KEYS = tuple(c.name for c in alarm_receipts.c if c.name != "ticket_id")


def _receipts_from_arrays() -> Any:
    """PostgreSQL: a batch's receipts as one array per column, unnested in their order: nine
    parameters whatever the batch's size, so the driver prepares the statement once (the
    multi-row VALUES of ``insert_receipts`` is a new statement text of thousands of
    parameters, which psycopg parses afresh every time)."""
    rows = func.unnest(*[bindparam(c.name, type_=postgresql.ARRAY(c.type))
                         for c in alarm_receipts.c if c.name in _RECEIPT_KEYS]
                       ).table_valued(*_RECEIPT_KEYS, with_ordinality="n").render_derived()
    return (postgresql.insert(alarm_receipts)
            .from_select(_RECEIPT_KEYS, select(*[rows.c[k] for k in _RECEIPT_KEYS])
                         .order_by(rows.c.n))
            .on_conflict_do_nothing(index_elements=["alarm_id", "state"])
            .returning(alarm_receipts.c.alarm_id, alarm_receipts.c.state))


_TICKETS = select(*_READ)
_BY_ID = _TICKETS.where(_T.id == bindparam("id"))
_BY_OPEN_KEY = _TICKETS.where(_T.open_key == bindparam("key"))
_BY_OPEN_KEYS = _TICKETS.where(_T.open_key.in_(bindparam("keys", expanding=True))).order_by(_T.id)
# SQLite compiles FOR UPDATE to nothing: its one writer holds the whole database.
_BY_OPEN_KEY_LOCKED = _BY_OPEN_KEY.with_for_update()
_BY_OPEN_KEYS_LOCKED = _BY_OPEN_KEYS.with_for_update()
_RECEIPT_TICKETS = select(alarm_receipts.c.alarm_id, alarm_receipts.c.state,
                          alarm_receipts.c.ticket_id).where(
    alarm_receipts.c.alarm_id.in_(bindparam("ids", expanding=True)))
_LINK_RECEIPTS = (update(alarm_receipts)
                  .where(alarm_receipts.c.alarm_id == bindparam("b_alarm"),
                         alarm_receipts.c.state == bindparam("b_state"))
                  .values(ticket_id=bindparam("b_ticket")))
_RECEIPT_TICKET = select(alarm_receipts.c.ticket_id).where(
    alarm_receipts.c.alarm_id == bindparam("alarm_id"),
    alarm_receipts.c.state == bindparam("state"))
_SAVE = (update(tickets).where(_T.id == bindparam("b_id"), _T.version == bindparam("b_version"))
         .values(version=_T.version + 1).returning(*_READ))
_SAVE_ALL = update(tickets).where(_T.id == bindparam("b_id"),
                                  _T.version == bindparam("b_stored"))
_COUNT_EVENTS = (update(event_counter).where(event_counter.c.id == 1)
                 .values(seq=event_counter.c.seq + bindparam("n", type_=BigInteger))
                 .returning(event_counter.c.seq))
_INSERT_EVENTS = ticket_events.insert()
_EVENTS_AFTER = (select(ticket_events.c.seq, ticket_events.c.ticket_id, ticket_events.c.ts_ms,
                        ticket_events.c.ticket)
                 .where(ticket_events.c.seq > bindparam("seq", type_=BigInteger))
                 .order_by(ticket_events.c.seq).limit(bindparam("limit", type_=Integer)))
_INSERT_TIMELINE = timeline.insert()
_TIMELINE_KEYS = ("ticket_id", "ts_ms", "type", "actor", "action", "note", "rule_id", "data")
_EVENT_KEYS = ("seq", "ticket_id", "ts_ms", "ticket")
_INSERT_WEBHOOKS = webhook_outbox.insert()
_SCOPE_COLUMNS = {Scope.HOUSEHOLD: "household", Scope.RISER: "riser", Scope.DEVICE: "device_id",
                  Scope.BUILDING: "building"}


def _history_count(query: HistoryQuery, i: int) -> Any:
    """The count of one history query, its scope key and start bound as ``key_i``, ``since_i``."""
    key: Any = bindparam(f"key_{i}", type_=Text)
    since: Any = bindparam(f"since_{i}", type_=BigInteger)
    # Bound one by one (not an expanding list): the statement is compiled once, kinds and all.
    kinds = [literal(k, Text) for k in sorted(query.kinds)]
    if query.counted is Counted.ALARMS:
        c = alarm_receipts.c
        return select(func.count()).select_from(alarm_receipts).where(
            c[_SCOPE_COLUMNS[query.scope]] == key, c.state == "raise", c.ts_ms >= since,
            c.kind.in_(kinds))
    return select(func.count()).select_from(tickets).where(
        _T[_SCOPE_COLUMNS[query.scope]] == key, _T.opened_at >= since,
        _text(_T.kind).in_(kinds))


@functools.lru_cache(maxsize=256)
def _histories(queries: tuple[HistoryQuery, ...], dialect: _DialectKey) -> DriverStatement:
    """One statement counting each of ``queries`` (compiled once per set of queries: a matrix
    has few)."""
    stmt = select(*(_history_count(q, i).scalar_subquery() for i, q in enumerate(queries)))
    return compile_for(stmt, dialect.dialect)


@functools.lru_cache(maxsize=64)
def _at_place(kinds: tuple[str, ...], dialect: _DialectKey) -> DriverStatement:
    """The active tickets of ``kinds`` in one building (where an incident groups), oldest
    first: asked for every alarm that may belong to an incident, so compiled once per set of
    kinds (a handful: the incident rules' parents and children), the kinds bound one by one."""
    stmt = _TICKETS.where(
        _T.estate_id == bindparam("estate_id", type_=Text),
        _T.building == bindparam("building", type_=Text), _T.open_key.is_not(None),
        _text(_T.kind).in_([literal(k, Text) for k in kinds])).order_by(_T.id)
    return compile_for(stmt, dialect.dialect)


@dataclass(frozen=True, slots=True, eq=False)
class _DialectKey:
    """A dialect as a cache key: one per database and driver (the first engine's stands for
    all: their SQL is the same)."""

    name: str
    dialect: Dialect

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _DialectKey) and other.name == self.name


class _Hot:
    """The alarm path's statements compiled for one dialect (``driver``)."""

    def __init__(self, dialect: Dialect) -> None:
        self.key = _DialectKey(f"{dialect.name}+{dialect.driver}", dialect)
        insert_ticket = _DIALECTS[dialect.name].insert_ticket
        self.insert_ticket = compile_for(insert_ticket, dialect, (*ROW_KEYS, "version"))
        self.save = compile_for(_SAVE, dialect, ROW_KEYS)
        self.save_all = compile_for(_SAVE_ALL, dialect, (*ROW_KEYS, "version"))
        self.by_id = compile_for(_BY_ID, dialect)
        self.by_open_key = compile_for(_BY_OPEN_KEY, dialect)
        self.by_open_key_locked = compile_for(_BY_OPEN_KEY_LOCKED, dialect)
        self.receipt_ticket = compile_for(_RECEIPT_TICKET, dialect)
        self.link_receipts = compile_for(_LINK_RECEIPTS, dialect, ("ticket_id",))
        self.insert_timeline = compile_for(_INSERT_TIMELINE, dialect, _TIMELINE_KEYS)
        self.count_events = compile_for(_COUNT_EVENTS, dialect)
        self.receipt_arrays = (compile_for(_receipts_from_arrays(), dialect)
                               if dialect.name == "postgresql" else None)
        self.insert_events = compile_for(_INSERT_EVENTS, dialect, _EVENT_KEYS)


_HOT: dict[str, _Hot] = {}


def _hot(dialect: Dialect) -> _Hot:
    """The compiled statements of ``dialect``, compiled when its first store opens."""
    name = f"{dialect.name}+{dialect.driver}"
    hot = _HOT.get(name)
    if hot is None:
        hot = _HOT.setdefault(name, _Hot(dialect))
    return hot


def _text(column: Any) -> Any:
    """A column compared as the text it holds (filters given as plain strings, JSON text)."""
    return type_coerce(column, Text)


class SqlTx:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._dialect = _DIALECTS[conn.dialect.name]
        self._insert_receipts = _INSERT_RECEIPTS[conn.dialect.name]
        self._hot = _hot(conn.dialect)
        self._pending: list[Ticket] = []
        self._timeline: list[dict[str, Any]] = []
        self._webhooks: list[dict[str, Any]] = []
        self.published: list[TicketEvent] = []

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for the parts that keep tables of their own."""
        return self._conn

    def _tickets(self, stmt: Select[Any], params: dict[str, Any] | None = None) -> list[Ticket]:
        return [_decode(r) for r in self._conn.execute(stmt, params)]

    def _ticket(self, stmt: DriverStatement, params: dict[str, Any]) -> Ticket | None:
        row = stmt.run(self._conn, params).first()
        return None if row is None else _decode(stmt.row(row))

    def schema_versions(self) -> list[int]:
        c = schema_migrations.c
        return [int(v) for v in self._conn.scalars(select(c.version).order_by(c.version))]

    # --- alarm receipts ---------------------------------------------------------------------

    @staticmethod
    def _receipt_row(r: Receipt, received_at: int) -> dict[str, Any]:
        return {"alarm_id": r.alarm_id, "state": r.state, "kind": r.kind,
                "device_id": r.device_id, "household": r.household, "riser": r.riser,
                "building": r.building, "ts_ms": r.ts_ms, "received_at": received_at}

    def add_receipts(self, receipts: Sequence[Receipt], received_at: int) -> set[ReceiptKey]:
        """Store many deliveries at once; returns the (alarm, state) pairs stored now, the first
        deliveries. Rows go in key order, so concurrent batches take the unique index's locks
        in one order (a batch holding a key waits for the other's commit and then finds it)."""
        ordered = sorted({(r.alarm_id, r.state): r for r in receipts}.items())
        if not ordered:
            return set()
        values = [self._receipt_row(r, received_at) for _, r in ordered]
        arrays = self._hot.receipt_arrays
        if arrays is None:
            rows: Iterable[Sequence[Any]] = self._conn.execute(self._insert_receipts, values)
        else:
            rows = arrays.run(self._conn, {k: [v[k] for v in values] for k in _RECEIPT_KEYS})
        return {(str(row[0]), str(row[1])) for row in rows}

    def receipt_tickets(self, keys: Iterable[ReceiptKey]) -> dict[ReceiptKey, int | None]:
        """The ticket each stored (alarm, state) went to (None: none, e.g. a clear of nothing)."""
        wanted = set(keys)
        if not wanted:
            return {}
        rows = self._conn.execute(_RECEIPT_TICKETS,
                                  {"ids": sorted({alarm_id for alarm_id, _ in wanted})})
        return {(a, s): None if t is None else int(t) for a, s, t in rows if (a, s) in wanted}

    def receipt_ticket(self, alarm_id: str, state: str) -> int | None:
        row = self._hot.receipt_ticket.run(self._conn, {"alarm_id": alarm_id,
                                                        "state": state}).first()
        return None if row is None or row[0] is None else int(row[0])

    def link_receipts(self, links: Sequence[tuple[str, str, int]]) -> None:
        """Note the ticket each (alarm_id, state, ticket_id) went to."""
        if not links:
            return
        self._hot.link_receipts.run_many(self._conn, [
            {"b_alarm": a, "b_state": s, "b_ticket": t} for a, s, t in links])

    def count_histories(self, asks: Sequence[HistoryAsk]) -> list[int]:
        """Several history counts in one statement, in the order asked."""
        if not asks:
            return []
        params: dict[str, Any] = {}
        for i, (_, key, since) in enumerate(asks):
            params[f"key_{i}"], params[f"since_{i}"] = key, since
        stmt = _histories(tuple(q for q, _, _ in asks), self._hot.key)
        (row,) = stmt.run(self._conn, params).all()
        return [int(n) for n in row]

    # --- tickets -----------------------------------------------------------------------------

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        return self._ticket(self._hot.by_id, {"id": ticket_id})

    def ticket_by_open_key(self, key: str, *, lock: bool = False) -> Ticket | None:
        hot = self._hot
        return self._ticket(hot.by_open_key_locked if lock else hot.by_open_key, {"key": key})

    def open_tickets(self, keys: Iterable[str], *, lock: bool = False) -> list[Ticket]:
        """The active tickets of ``keys``. ``lock``: their rows are locked now, in id order, so
        concurrent batches that touch the same tickets in other orders wait for each other
        instead of deadlocking (PostgreSQL; SQLite has one writer at a time anyway)."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        return self._tickets(_BY_OPEN_KEYS_LOCKED if lock else _BY_OPEN_KEYS, {"keys": wanted})

    def insert_ticket(self, ticket: Ticket) -> Ticket | None:
        """The new ticket with its id, or None when another one holds its open key."""
        return self._ticket(self._hot.insert_ticket, {**ticket_row(ticket), "version": 1})

    def save(self, ticket: Ticket) -> Ticket | None:
        """Write ``ticket`` if nobody changed it since it was read (same version)."""
        return self._ticket(self._hot.save, {**ticket_row(ticket), "b_id": ticket.id,
                                             "b_version": ticket.version})

    def save_all(self, changes: Sequence[tuple[Ticket, int]]) -> int:
        """Write each ticket whose stored version is still the one given, with the ticket's
        own version; returns how many were written."""
        if not changes:
            return 0
        return self._hot.save_all.run_many(self._conn, [
            {**ticket_row(t), "version": t.version, "b_id": t.id, "b_stored": stored}
            for t, stored in changes])

    def list_tickets(self, *, statuses: Iterable[str] = (), kinds: Iterable[str] = (),
                     since: int | None = None, opened_since: int | None = None,
                     party: str | None = None, supervisor: bool = False,
                     limit: int = 500) -> list[Ticket]:
        """Newest first. ``party``: only tickets it is assigned or notified of (and, for a
        ``supervisor``, overdue or escalated ones); the caller still checks each ticket."""
        where: list[Any] = []
        if party is not None:
            seen = [_T.assignee == party, _text(_T.notified).like(f'%"{party}"%')]
            if supervisor:
                seen += [_T.escalation_level > 0, _text(_T.breaches) != "[]"]
            where.append(or_(*seen))
        for column, values in ((_T.status, list(statuses)), (_T.kind, list(kinds))):
            if values:
                where.append(_text(column).in_(values))
        for column, bound in ((_T.updated_at, since), (_T.opened_at, opened_since)):
            if bound is not None:
                where.append(column >= bound)
        return self._tickets(_TICKETS.where(*where)
                             .order_by(_T.opened_at.desc(), _T.id.desc()).limit(limit))

    def active_tickets_at(self, estate_id: str, building: str,
                          kinds: Iterable[str]) -> list[Ticket]:
        stmt = _at_place(tuple(sorted(set(kinds))), self._hot.key)
        return [_decode(stmt.row(r))
                for r in stmt.run(self._conn, {"estate_id": estate_id, "building": building})]

    def due_tickets(self, now: int, limit: int = 500) -> list[Ticket]:
        return self._tickets(_TICKETS.where(_T.next_check_at <= now)
                             .order_by(_T.next_check_at).limit(limit))

    def ticket_counts(self) -> list[tuple[str, str, int]]:
        kind, status = _text(_T.kind), _text(_T.status)
        rows = self._conn.execute(select(kind, status, func.count()).group_by(kind, status)
                                  .order_by(kind, status))
        return [(str(k), str(s), int(n)) for k, s, n in rows]

    # --- timeline ----------------------------------------------------------------------------

    def add_timeline(self, ticket_id: int, entry: TimelineEntry) -> None:
        """Written with the transaction's other entries, in order, before it commits."""
        self._timeline.append({"ticket_id": ticket_id, "ts_ms": entry.ts_ms,
                               "type": entry.type.value, "actor": entry.actor,
                               "action": entry.action, "note": entry.note,
                               "rule_id": entry.rule_id, "data": dict(entry.data)})

    def flush_timeline(self) -> None:
        rows, self._timeline = self._timeline, []
        if rows:
            self._hot.insert_timeline.run_many(self._conn, rows)

    def _flush_webhooks(self) -> None:
        rows, self._webhooks = self._webhooks, []
        if rows:
            self._conn.execute(_INSERT_WEBHOOKS, rows)

    def timeline(self, ticket_id: int) -> list[TimelineEntry]:
        self.flush_timeline()
        c = timeline.c
        rows = self._conn.execute(
            select(c.ts_ms, c.type, c.actor, c.action, c.note, c.rule_id, c.data)
            .where(c.ticket_id == ticket_id).order_by(c.id))
        return [TimelineEntry(r[0], EntryType(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # --- event feed --------------------------------------------------------------------------

    def publish(self, ticket: Ticket) -> None:
        """Announce the ticket's new state when the transaction commits."""
        self._pending.append(ticket)

    def flush_events(self, now: int) -> None:
        """Number and store pending events; the counter row stays locked until commit, so
        sequence order is commit order across replicas. Called by the store right before
        committing (after every other statement, so lock order is tickets → counter). The
        transaction's events take one block of consecutive numbers."""
        self.flush_timeline()
        self._flush_webhooks()
        latest: dict[int, Ticket] = {}
        for ticket in self._pending:
            latest[ticket.id] = ticket  # several changes in one transaction: the last counts
        self._pending.clear()
        if not latest:
            return
        (row,) = self._hot.count_events.run(self._conn, {"n": len(latest)}).all()
        last = int(row[0])
        events = [TicketEvent(seq, ticket.id, now, ticket)
                  for seq, ticket in enumerate(latest.values(), start=last - len(latest) + 1)]
        self._hot.insert_events.run_many(self._conn, [
            {"seq": e.seq, "ticket_id": e.ticket_id, "ts_ms": now,
             "ticket": ticket_record(e.ticket)} for e in events])
        self.published.extend(events)

    def events_after(self, seq: int, limit: int = 500) -> list[TicketEvent]:
        rows = self._conn.execute(_EVENTS_AFTER, {"seq": seq, "limit": limit})
        return [TicketEvent(int(r[0]), int(r[1]), int(r[2]), ticket_from_record(r[3]))
                for r in rows]

    def last_event_seq(self) -> int:
        return int(self._conn.execute(select(event_counter.c.seq)
                                      .where(event_counter.c.id == 1)).scalar_one())

    # --- devices -----------------------------------------------------------------------------

    def put_device_state(self, state: DeviceState, now: int) -> None:
        """Keep the newest: an older report (replayed from a spool) does not overwrite."""
        stmt = self._dialect.insert(device_states).values(
            device_id=state.device_id, online=None if state.online is None else int(state.online),
            last_seen_ms=state.last_seen_ms, values_json=dict(state.values),
            values_ts_ms=state.values_ts_ms, updated_at=now)
        old, new, g = device_states.c, stmt.excluded, self._dialect.greatest

        def newer(ts: str) -> Any:
            return or_(old[ts].is_(None), new[ts] >= old[ts])

        def latest(ts: str) -> Any:
            return g(func.coalesce(old[ts], new[ts]), func.coalesce(new[ts], old[ts]))

        self._conn.execute(stmt.on_conflict_do_update(index_elements=["device_id"], set_={
            "online": case((newer("last_seen_ms"), new.online), else_=old.online),
            "last_seen_ms": latest("last_seen_ms"),
            "values_json": case((newer("values_ts_ms"), new.values_json),
                                else_=old.values_json),
            "values_ts_ms": latest("values_ts_ms"),
            "updated_at": new.updated_at,
        }))

    def device_states(self, device_ids: Sequence[str] | None = None) -> dict[str, DeviceState]:
        c = device_states.c
        stmt = select(c.device_id, c.online, c.last_seen_ms, c.values_json, c.values_ts_ms)
        if device_ids is not None:
            if not device_ids:
                return {}
            stmt = stmt.where(c.device_id.in_(list(device_ids)))
        return {r[0]: DeviceState(r[0], None if r[1] is None else bool(r[1]), r[2], r[3], r[4])
                for r in self._conn.execute(stmt)}

    # --- audit -------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        self._conn.execute(audit_log.insert().values(
            ts_ms=entry.ts_ms, actor=entry.actor, action=entry.action, ticket_id=entry.ticket_id,
            device_id=entry.device_id, detail=dict(entry.detail)))

    def audit_entries(self, since: int = 0, limit: int = 1000) -> list[AuditEntry]:
        c = audit_log.c
        rows = self._conn.execute(
            select(c.ts_ms, c.actor, c.action, c.ticket_id, c.device_id, c.detail)
            .where(c.ts_ms >= since).order_by(c.id).limit(limit))
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    # --- webhooks ----------------------------------------------------------------------------

    def enqueue_webhook(self, party: str, url: str, body: str, now: int) -> None:
        """Written with the transaction's other deliveries, in order, before it commits."""
        self._webhooks.append({"party": party, "url": url, "body": body, "created_at": now,
                               "attempts": 0, "next_attempt_at": now})

    def claim_webhooks(self, now: int, lease_ms: int, limit: int = 20) -> list[WebhookJob]:
        """Jobs due now, leased to this caller so another replica does not send them too."""
        c = webhook_outbox.c
        free = [c.delivered_at.is_(None), or_(c.lease_until.is_(None), c.lease_until <= now)]
        ids = list(self._conn.scalars(select(c.id).where(c.next_attempt_at <= now, *free)
                                      .order_by(c.id).limit(limit)))
        jobs: list[WebhookJob] = []
        for job_id in ids:
            row = self._conn.execute(
                update(webhook_outbox).where(c.id == job_id, *free)
                .values(lease_until=now + lease_ms)
                .returning(c.id, c.party, c.url, c.body, c.attempts)).first()
            if row is not None:
                jobs.append(WebhookJob(int(row[0]), row[1], row[2], row[3], int(row[4])))
        return jobs

    def finish_webhook(self, job_id: int, *, delivered_at: int | None, next_attempt_at: int,
                       error: str | None) -> None:
        c = webhook_outbox.c
        self._conn.execute(update(webhook_outbox).where(c.id == job_id).values(
            attempts=c.attempts + 1, delivered_at=delivered_at, next_attempt_at=next_attempt_at,
            lease_until=None, last_error=error))

    def webhook_backlog(self) -> int:
        c = webhook_outbox.c
        return int(self._conn.execute(select(func.count()).select_from(webhook_outbox)
                                      .where(c.delivered_at.is_(None))).scalar_one())
