"""The repository: every statement the platform runs, written once for SQLite and PostgreSQL.

A ``SqlTx`` lives for one transaction. Ticket changes are conditional on the version read
(``save``), so two writers (threads or replicas) never overwrite each other: the loser re-reads.
Events published in a transaction get their sequence number when it commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from gongzhi.devices.registry import Location
from gongzhi.hub.duty import Counted, HistoryQuery, Scope
from gongzhi.hub.store.records import (
    AuditEntry,
    DeviceState,
    Receipt,
    TicketEvent,
    WebhookJob,
    ticket_from_record,
    ticket_record,
)
from gongzhi.hub.store.schema import Dialect
from gongzhi.hub.tickets import EntryType, Status, Ticket, TimelineEntry


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...


class Connection(Protocol):
    def execute(self, sql: Any, params: Sequence[Any] = ...) -> Any: ...
    def cursor(self) -> Any: ...


_COLUMNS = (
    "id, kind, severity, status, assignee, notified, chain, device_id, estate_id, building, "
    "unit, floor, room, elderly_alone, household, riser, phone, opened_at, first_seen, "
    "last_seen, updated_at, occurrences, route_id, ack_due_at, on_site_due_at, resolve_due_at, "
    "convert_at, convert_to, breaches, escalation_level, acknowledged_at, on_site_at, "
    "closed_at, converted_from, open_key, evidence, incident_id, version"
)
_SCOPE_COLUMNS = {Scope.HOUSEHOLD: "household", Scope.RISER: "riser", Scope.DEVICE: "device_id",
                  Scope.BUILDING: "building"}
_WRITABLE = [*_COLUMNS.split(", ")[1:-1], "next_check_at"]
# Rows per multi-row statement: well under SQLite's 32,766 parameters, a short statement for
# PostgreSQL.
_ROWS_PER_STATEMENT = 200
_TIMELINE_INSERT = ("INSERT INTO timeline (ticket_id, ts_ms, type, actor, action, note, rule_id, "
                    "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
ReceiptKey = tuple[str, str]  # (alarm_id, state)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _ticket(row: Sequence[Any]) -> Ticket:
    (id_, kind, severity, status, assignee, notified, chain, device_id, estate_id, building,
     unit, floor, room, elderly, household, riser, phone, opened_at, first_seen, last_seen,
     updated_at, occurrences, route_id, ack_due, on_site_due, resolve_due, convert_at,
     convert_to, breaches, level, ack_at, on_site_at, closed_at, converted_from, key,
     evidence, incident_id, version) = row
    return Ticket(
        id=int(id_), kind=kind, severity=severity, status=Status(status), assignee=assignee,
        notified=tuple(json.loads(notified)), chain=tuple(json.loads(chain)),
        device_id=device_id, location=Location(estate_id, building, unit, floor, room),
        elderly_alone=bool(elderly), household=household, riser=riser, phone=phone,
        opened_at=opened_at, first_seen=first_seen, last_seen=last_seen, updated_at=updated_at,
        occurrences=occurrences, route_id=route_id, ack_due_at=ack_due,
        on_site_due_at=on_site_due, resolve_due_at=resolve_due, convert_at=convert_at,
        convert_to=convert_to, breaches=tuple(json.loads(breaches)), escalation_level=level,
        acknowledged_at=ack_at, on_site_at=on_site_at, closed_at=closed_at,
        converted_from=converted_from, open_key=key, evidence=json.loads(evidence),
        incident_id=None if incident_id is None else int(incident_id), version=version,
    )


def _values(t: Ticket) -> list[Any]:
    loc = t.location
    return [
        t.kind, t.severity, t.status.value, t.assignee, _dumps(list(t.notified)),
        _dumps(list(t.chain)), t.device_id, loc.estate_id, loc.building, loc.unit, loc.floor,
        loc.room, int(t.elderly_alone), t.household, t.riser, t.phone, t.opened_at,
        t.first_seen, t.last_seen, t.updated_at, t.occurrences, t.route_id, t.ack_due_at,
        t.on_site_due_at, t.resolve_due_at, t.convert_at, t.convert_to,
        _dumps(list(t.breaches)), t.escalation_level, t.acknowledged_at, t.on_site_at,
        t.closed_at, t.converted_from, t.open_key, _dumps(dict(t.evidence)), t.incident_id,
        t.next_check_at,
    ]


class SqlTx:
    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect
        self._pending: list[Ticket] = []
        self._timeline: list[tuple[Any, ...]] = []
        self.published: list[TicketEvent] = []

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._dialect.sql(sql), tuple(params))

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (pipelined by psycopg, one prepared loop by SQLite)."""
        if rows:
            self._conn.cursor().executemany(self._dialect.sql(sql), [tuple(r) for r in rows])

    def schema_versions(self) -> list[int]:
        rows = self._run("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        return [int(r[0]) for r in rows]

    # --- alarm receipts ---------------------------------------------------------------------

    def add_receipt(self, receipt: Receipt, received_at: int) -> bool:
        """True for the first delivery of this (alarm, state); False for a repeat."""
        row = self._run(
            "INSERT INTO alarm_receipts (alarm_id, state, kind, device_id, household, riser, "
            "building, ts_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (alarm_id, state) DO NOTHING RETURNING alarm_id",
            (receipt.alarm_id, receipt.state, receipt.kind, receipt.device_id,
             receipt.household, receipt.riser, receipt.building, receipt.ts_ms, received_at),
        ).fetchone()
        return row is not None

    def add_receipts(self, receipts: Sequence[Receipt], received_at: int) -> set[ReceiptKey]:
        """Store many deliveries at once; returns the (alarm, state) pairs stored now, the first
        deliveries. Rows go in key order, so concurrent batches take the unique index's locks
        in one order (a batch holding a key waits for the other's commit and then finds it)."""
        ordered = sorted({(r.alarm_id, r.state): r for r in receipts}.items())
        stored: set[ReceiptKey] = set()
        for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
            chunk = [r for _, r in ordered[start:start + _ROWS_PER_STATEMENT]]
            marks = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?)" for _ in chunk)
            params = [value for r in chunk for value in (
                r.alarm_id, r.state, r.kind, r.device_id, r.household, r.riser, r.building,
                r.ts_ms, received_at)]
            rows = self._run(
                "INSERT INTO alarm_receipts (alarm_id, state, kind, device_id, household, riser, "
                f"building, ts_ms, received_at) VALUES {marks} "
                "ON CONFLICT (alarm_id, state) DO NOTHING RETURNING alarm_id, state",
                params).fetchall()
            stored.update((str(row[0]), str(row[1])) for row in rows)
        return stored

    def receipt_tickets(self, keys: Iterable[ReceiptKey]) -> dict[ReceiptKey, int | None]:
        """The ticket each stored (alarm, state) went to (None: none, e.g. a clear of nothing)."""
        wanted = set(keys)
        ids = sorted({alarm_id for alarm_id, _ in wanted})
        found: dict[ReceiptKey, int | None] = {}
        for start in range(0, len(ids), _ROWS_PER_STATEMENT):
            chunk = ids[start:start + _ROWS_PER_STATEMENT]
            rows = self._run("SELECT alarm_id, state, ticket_id FROM alarm_receipts WHERE "
                             f"alarm_id IN ({', '.join('?' for _ in chunk)})", chunk).fetchall()
            for alarm_id, state, ticket_id in rows:
                if (alarm_id, state) in wanted:
                    found[(alarm_id, state)] = None if ticket_id is None else int(ticket_id)
        return found

    def link_receipts(self, links: Sequence[tuple[str, str, int]]) -> None:
        """``link_receipt`` for many (alarm_id, state, ticket_id) at once."""
        self._run_many("UPDATE alarm_receipts SET ticket_id = ? WHERE alarm_id = ? AND state = ?",
                       [(ticket_id, alarm_id, state) for alarm_id, state, ticket_id in links])

    def receipt_ticket(self, alarm_id: str, state: str) -> int | None:
        row = self._run("SELECT ticket_id FROM alarm_receipts WHERE alarm_id = ? AND state = ?",
                        (alarm_id, state)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def link_receipt(self, alarm_id: str, state: str, ticket_id: int) -> None:
        self._run("UPDATE alarm_receipts SET ticket_id = ? WHERE alarm_id = ? AND state = ?",
                  (ticket_id, alarm_id, state))

    def count_history(self, query: HistoryQuery, key: str, since: int) -> int:
        kinds = sorted(query.kinds)
        marks = ", ".join("?" for _ in kinds)
        column = _SCOPE_COLUMNS[query.scope]
        if query.counted is Counted.ALARMS:
            sql = (f"SELECT COUNT(*) FROM alarm_receipts WHERE {column} = ? AND state = 'raise' "
                   f"AND ts_ms >= ? AND kind IN ({marks})")
        else:
            sql = (f"SELECT COUNT(*) FROM tickets WHERE {column} = ? AND opened_at >= ? "
                   f"AND kind IN ({marks})")
        return int(self._run(sql, (key, since, *kinds)).fetchone()[0])

    # --- tickets -----------------------------------------------------------------------------

    def get_ticket(self, ticket_id: int) -> Ticket | None:
        row = self._run(f"SELECT {_COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return None if row is None else _ticket(row)

    def ticket_by_open_key(self, key: str, *, lock: bool = False) -> Ticket | None:
        row = self._run(f"SELECT {_COLUMNS} FROM tickets WHERE open_key = ?{self._lock(lock)}",
                        (key,)).fetchone()
        return None if row is None else _ticket(row)

    def open_tickets(self, keys: Iterable[str], *, lock: bool = False) -> list[Ticket]:
        """The active tickets of ``keys``. ``lock``: their rows are locked now, in id order, so
        concurrent batches that touch the same tickets in other orders wait for each other
        instead of deadlocking (PostgreSQL; SQLite has one writer at a time anyway)."""
        wanted = sorted(set(keys))
        found: list[Ticket] = []
        for start in range(0, len(wanted), _ROWS_PER_STATEMENT):
            chunk = wanted[start:start + _ROWS_PER_STATEMENT]
            rows = self._run(f"SELECT {_COLUMNS} FROM tickets WHERE open_key IN "
                             f"({', '.join('?' for _ in chunk)}) ORDER BY id{self._lock(lock)}",
                             chunk).fetchall()
            found.extend(_ticket(r) for r in rows)
        return found

    def _lock(self, lock: bool) -> str:
        return " FOR UPDATE" if lock and self._dialect.name == "postgresql" else ""

    def add_occurrence(self, key: str, ts_ms: int, now: int,
                       evidence: dict[str, Any]) -> Ticket | None:
        """Count one more alarm on the active ticket of ``key``, atomically (deliveries may
        arrive out of order: first and last seen are the extremes)."""
        row = self._run(
            f"UPDATE tickets SET occurrences = occurrences + 1, "
            f"first_seen = {self._dialect.least}(first_seen, ?), "
            f"last_seen = {self._dialect.greatest}(last_seen, ?), updated_at = ?, "
            f"evidence = CASE WHEN ? >= last_seen THEN ? ELSE evidence END, "
            f"version = version + 1 WHERE open_key = ? RETURNING {_COLUMNS}",
            (ts_ms, ts_ms, now, ts_ms, _dumps(evidence), key),
        ).fetchone()
        return None if row is None else _ticket(row)

    def insert_ticket(self, ticket: Ticket) -> Ticket | None:
        """The new ticket with its id, or None when another one holds its open key."""
        names = ", ".join(_WRITABLE)
        marks = ", ".join("?" for _ in _WRITABLE)
        row = self._run(
            f"INSERT INTO tickets ({names}, version) VALUES ({marks}, 1) "
            f"ON CONFLICT (open_key) DO NOTHING RETURNING {_COLUMNS}",
            _values(ticket),
        ).fetchone()
        return None if row is None else _ticket(row)

    def save(self, ticket: Ticket) -> Ticket | None:
        """Write ``ticket`` if nobody changed it since it was read (same version)."""
        assignments = ", ".join(f"{name} = ?" for name in _WRITABLE)
        row = self._run(
            f"UPDATE tickets SET {assignments}, version = version + 1 "
            f"WHERE id = ? AND version = ? RETURNING {_COLUMNS}",
            (*_values(ticket), ticket.id, ticket.version),
        ).fetchone()
        return None if row is None else _ticket(row)

    def save_all(self, changes: Sequence[tuple[Ticket, int]]) -> int:
        """Write each ticket whose stored version is still the one given, with the ticket's
        own version; returns how many were written."""
        assignments = ", ".join(f"{name} = ?" for name in _WRITABLE)
        cursor = self._conn.cursor()
        cursor.executemany(
            self._dialect.sql(f"UPDATE tickets SET {assignments}, version = ? "
                              f"WHERE id = ? AND version = ?"),
            [(*_values(t), t.version, t.id, stored) for t, stored in changes])
        return int(cursor.rowcount)

    def list_tickets(self, *, statuses: Iterable[str] = (), kinds: Iterable[str] = (),
                     since: int | None = None, opened_since: int | None = None,
                     party: str | None = None, supervisor: bool = False,
                     limit: int = 500) -> list[Ticket]:
        """Newest first. ``party``: only tickets it is assigned or notified of (and, for a
        ``supervisor``, overdue or escalated ones); the caller still checks each ticket."""
        where: list[str] = []
        params: list[Any] = []
        if party is not None:
            seen = "assignee = ? OR notified LIKE ?"
            if supervisor:
                seen += " OR escalation_level > 0 OR breaches <> '[]'"
            where.append(f"({seen})")
            params.extend([party, f'%"{party}"%'])
        for column, values in (("status", list(statuses)), ("kind", list(kinds))):
            if values:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        for column, bound in (("updated_at", since), ("opened_at", opened_since)):
            if bound is not None:
                where.append(f"{column} >= ?")
                params.append(bound)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._run(f"SELECT {_COLUMNS} FROM tickets {clause} "
                         f"ORDER BY opened_at DESC, id DESC LIMIT ?", (*params, limit)).fetchall()
        return [_ticket(r) for r in rows]

    def active_tickets_at(self, estate_id: str, building: str,
                          kinds: Iterable[str]) -> list[Ticket]:
        wanted = sorted(kinds)
        marks = ", ".join("?" for _ in wanted)
        rows = self._run(f"SELECT {_COLUMNS} FROM tickets WHERE estate_id = ? AND building = ? "
                         f"AND open_key IS NOT NULL AND kind IN ({marks}) ORDER BY id",
                         (estate_id, building, *wanted)).fetchall()
        return [_ticket(r) for r in rows]

    def due_tickets(self, now: int, limit: int = 500) -> list[Ticket]:
        rows = self._run(f"SELECT {_COLUMNS} FROM tickets WHERE next_check_at <= ? "
                         f"ORDER BY next_check_at LIMIT ?", (now, limit)).fetchall()
        return [_ticket(r) for r in rows]

    def ticket_counts(self) -> list[tuple[str, str, int]]:
        rows = self._run("SELECT kind, status, COUNT(*) FROM tickets GROUP BY kind, status "
                         "ORDER BY kind, status").fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    # --- timeline ----------------------------------------------------------------------------

    def add_timeline(self, ticket_id: int, entry: TimelineEntry) -> None:
        """Written with the transaction's other entries, in order, before it commits."""
        self._timeline.append((ticket_id, entry.ts_ms, entry.type.value, entry.actor,
                               entry.action, entry.note, entry.rule_id,
                               _dumps(dict(entry.data))))

    def flush_timeline(self) -> None:
        rows, self._timeline = self._timeline, []
        self._run_many(_TIMELINE_INSERT, rows)

    def timeline(self, ticket_id: int) -> list[TimelineEntry]:
        self.flush_timeline()
        rows = self._run("SELECT ts_ms, type, actor, action, note, rule_id, data FROM timeline "
                         "WHERE ticket_id = ? ORDER BY id", (ticket_id,)).fetchall()
        return [TimelineEntry(r[0], EntryType(r[1]), r[2], r[3], r[4], r[5], json.loads(r[6]))
                for r in rows]

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
        latest: dict[int, Ticket] = {}
        for ticket in self._pending:
            latest[ticket.id] = ticket  # several changes in one transaction: the last counts
        self._pending.clear()
        if not latest:
            return
        last = int(self._run("UPDATE event_counter SET seq = seq + ? WHERE id = 1 "
                             "RETURNING seq", (len(latest),)).fetchone()[0])
        events = [TicketEvent(seq, ticket.id, now, ticket)
                  for seq, ticket in enumerate(latest.values(), start=last - len(latest) + 1)]
        self._run_many("INSERT INTO ticket_events (seq, ticket_id, ts_ms, ticket) "
                       "VALUES (?, ?, ?, ?)",
                       [(e.seq, e.ticket_id, now, _dumps(ticket_record(e.ticket)))
                        for e in events])
        self.published.extend(events)

    def events_after(self, seq: int, limit: int = 500) -> list[TicketEvent]:
        rows = self._run("SELECT seq, ticket_id, ts_ms, ticket FROM ticket_events "
                         "WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
        return [TicketEvent(int(r[0]), int(r[1]), int(r[2]), ticket_from_record(json.loads(r[3])))
                for r in rows]

    def last_event_seq(self) -> int:
        return int(self._run("SELECT seq FROM event_counter WHERE id = 1").fetchone()[0])

    # --- devices -----------------------------------------------------------------------------

    def put_device_state(self, state: DeviceState, now: int) -> None:
        """Keep the newest: an older report (replayed from a spool) does not overwrite."""
        g = self._dialect.greatest
        self._run(
            "INSERT INTO device_states (device_id, online, last_seen_ms, values_json, "
            "values_ts_ms, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET "
            "online = CASE WHEN device_states.last_seen_ms IS NULL OR excluded.last_seen_ms >= "
            "device_states.last_seen_ms THEN excluded.online ELSE device_states.online END, "
            f"last_seen_ms = {g}(COALESCE(device_states.last_seen_ms, excluded.last_seen_ms), "
            "COALESCE(excluded.last_seen_ms, device_states.last_seen_ms)), "
            "values_json = CASE WHEN device_states.values_ts_ms IS NULL OR "
            "excluded.values_ts_ms >= device_states.values_ts_ms THEN excluded.values_json "
            "ELSE device_states.values_json END, "
            f"values_ts_ms = {g}(COALESCE(device_states.values_ts_ms, excluded.values_ts_ms), "
            "COALESCE(excluded.values_ts_ms, device_states.values_ts_ms)), "
            "updated_at = excluded.updated_at",
            (state.device_id, None if state.online is None else int(state.online),
             state.last_seen_ms, _dumps(dict(state.values)), state.values_ts_ms, now),
        )

    def device_states(self, device_ids: Sequence[str] | None = None) -> dict[str, DeviceState]:
        sql = ("SELECT device_id, online, last_seen_ms, values_json, values_ts_ms "
               "FROM device_states")
        params: tuple[Any, ...] = ()
        if device_ids is not None:
            if not device_ids:
                return {}
            sql += f" WHERE device_id IN ({', '.join('?' for _ in device_ids)})"
            params = tuple(device_ids)
        return {r[0]: DeviceState(r[0], None if r[1] is None else bool(r[1]), r[2],
                                  json.loads(r[3]), r[4])
                for r in self._run(sql, params).fetchall()}

    # --- audit -------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        self._run("INSERT INTO audit_log (ts_ms, actor, action, ticket_id, device_id, detail) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
                  (entry.ts_ms, entry.actor, entry.action, entry.ticket_id, entry.device_id,
                   _dumps(dict(entry.detail))))

    def audit_entries(self, since: int = 0, limit: int = 1000) -> list[AuditEntry]:
        rows = self._run("SELECT ts_ms, actor, action, ticket_id, device_id, detail "
                         "FROM audit_log WHERE ts_ms >= ? ORDER BY id LIMIT ?",
                         (since, limit)).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    # --- webhooks ----------------------------------------------------------------------------

    def enqueue_webhook(self, party: str, url: str, body: str, now: int) -> None:
        self._run("INSERT INTO webhook_outbox (party, url, body, created_at, attempts, "
                  "next_attempt_at) VALUES (?, ?, ?, ?, 0, ?)", (party, url, body, now, now))

    def claim_webhooks(self, now: int, lease_ms: int, limit: int = 20) -> list[WebhookJob]:
        """Jobs due now, leased to this caller so another replica does not send them too."""
        rows = self._run("SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND "
                         "next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                         "ORDER BY id LIMIT ?", (now, now, limit)).fetchall()
        jobs: list[WebhookJob] = []
        for (job_id,) in rows:
            row = self._run("UPDATE webhook_outbox SET lease_until = ? WHERE id = ? AND "
                            "delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= ?) "
                            "RETURNING id, party, url, body, attempts",
                            (now + lease_ms, job_id, now)).fetchone()
            if row is not None:
                jobs.append(WebhookJob(int(row[0]), row[1], row[2], row[3], int(row[4])))
        return jobs

    def finish_webhook(self, job_id: int, *, delivered_at: int | None, next_attempt_at: int,
                       error: str | None) -> None:
        self._run("UPDATE webhook_outbox SET attempts = attempts + 1, delivered_at = ?, "
                  "next_attempt_at = ?, lease_until = NULL, last_error = ? WHERE id = ?",
                  (delivered_at, next_attempt_at, error, job_id))

    def webhook_backlog(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM webhook_outbox WHERE delivered_at IS NULL"
                             ).fetchone()[0])
