"""The ticket's one codec: every field survives the store and the event feed on SQLite and the
real PostgreSQL; the tables the statements use are the tables the migrations make; a database
of the previous release (its schema frozen in ``fixture_schema_b8bdd9e``) with tickets in it
is upgraded in place and its tickets come back intact; the public form names every field."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import MISSING, fields, replace
from typing import Any

import fixture_schema_b8bdd9e as released
import psycopg
import pytest
from hub_helpers import make_ticket
from sqlalchemy import Engine, create_engine, inspect, make_url

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.registry import Location
from gongzhi.hub.duty import Severity
from gongzhi.hub.parties import Party
from gongzhi.hub.privacy import public_ticket
from gongzhi.hub.schemas import MAX_INT, TicketPublic
from gongzhi.hub.store import open_store
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.records import Receipt
from gongzhi.hub.store.schema import MIGRATIONS
from gongzhi.hub.store.sqlite import SqliteStore
from gongzhi.hub.store.tables import metadata
from gongzhi.hub.tickets import Status, Ticket

# Every field set, none at its default: unicode, the largest time the API takes, enums.
FULL = Ticket(
    id=0, kind=AlarmKind.FIRE, severity=Severity.CRITICAL, status=Status.ON_SITE,
    assignee="police_room", notified=("property_office", "居委会·值班"), chain=("a", "b"),
    device_id="smk-火-1", location=Location("颐景园", "B1", "二单元", "3", "301室"),
    elderly_alone=True, household="H301", riser="R1", phone="138 1234 5678",
    opened_at=MAX_INT - 9, first_seen=1, last_seen=MAX_INT - 5, updated_at=MAX_INT - 1,
    occurrences=2**31 - 1, route_id="fire_police", ack_due_at=MAX_INT - 8,
    on_site_due_at=MAX_INT - 7, resolve_due_at=MAX_INT - 6, convert_at=MAX_INT - 4,
    convert_to=AlarmKind.ELECTRICAL_LEAKAGE, breaches=("ack", "on_site"), escalation_level=3,
    acknowledged_at=MAX_INT - 3, on_site_at=MAX_INT - 2, closed_at=MAX_INT,
    converted_from=AlarmKind.SMOKE_ALARM, open_key="smk-火-1|fire",
    evidence={"温度": 71.5, "nested": {"list": [1, "二", None, True]}, "emoji": "🔥"},
    incident_id=7, version=5,
)


def _default(name: str) -> Any:
    f = next(f for f in fields(Ticket) if f.name == name)
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def test_the_full_ticket_sets_every_field():
    unset = [f.name for f in fields(Ticket)
             if getattr(FULL, f.name) in (None, (), {}, 0, "", False)
             or ((f.default is not MISSING or f.default_factory is not MISSING)
             and getattr(FULL, f.name) == _default(f.name))]
    assert unset == ["id"]  # the database numbers it


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


def test_every_field_survives_the_store_and_the_event_feed(store: Store):
    with store.transaction(5) as tx:
        saved = tx.insert_ticket(FULL)
        assert saved is not None
        tx.publish(saved)
    assert saved == replace(FULL, id=saved.id, version=1)
    with store.transaction(6) as tx:
        read = tx.get_ticket(saved.id)
        by_key = tx.ticket_by_open_key("smk-火-1|fire")
        (event,) = tx.events_after(0)
    assert read == saved and by_key == saved and event.ticket == saved
    assert type(read.kind) is AlarmKind and type(read.severity) is Severity
    assert type(read.status) is Status and type(read.convert_to) is AlarmKind
    assert type(read.notified) is tuple and type(read.location) is Location
    assert type(read.elderly_alone) is bool

    # Every field changed at once, written back by a save.
    other = replace(read, kind=AlarmKind.TAMPER, severity=Severity.MINOR,
                    status=Status.RESOLVED, assignee="x", notified=(), chain=("c",),
                    device_id="d2", location=Location("e", "", "", "", ""),
                    elderly_alone=False, household=None, riser=None, phone=None,
                    opened_at=1, first_seen=2, last_seen=3, updated_at=4, occurrences=1,
                    route_id="r", ack_due_at=None, on_site_due_at=None, resolve_due_at=None,
                    convert_at=None, convert_to=None, breaches=(), escalation_level=0,
                    acknowledged_at=None, on_site_at=None, closed_at=None,
                    converted_from=None, open_key=None, evidence={}, incident_id=None)
    with store.transaction(7) as tx:
        changed = tx.save(other)
        again = tx.get_ticket(saved.id)
    assert changed == again == replace(other, version=2)


def _engine(url: str) -> Engine:
    if url.startswith("sqlite:"):
        return create_engine(url)
    return create_engine(make_url(url).set(drivername="postgresql+psycopg"))


def _family(type_name: str) -> str:
    return "integer" if "INT" in type_name.upper() else type_name.upper()


def test_the_tables_the_statements_use_are_the_migrated_schema(store: Store,
                                                                 database_url: str):
    engine = _engine(database_url)
    try:
        found = inspect(engine)
        assert set(found.get_table_names()) == set(metadata.tables)
        for table in metadata.sorted_tables:
            columns = {c["name"]: c for c in found.get_columns(table.name)}
            assert set(columns) == {c.name for c in table.columns}, table.name
            for column in table.columns:
                migrated = columns[column.name]
                assert migrated["nullable"] == column.nullable or column.primary_key, (
                    table.name, column.name)
                wanted = column.type.compile(dialect=engine.dialect)
                have = migrated["type"].compile(dialect=engine.dialect)
                if engine.dialect.name == "postgresql":
                    assert have == wanted, (table.name, column.name)
                else:  # SQLite keeps the declared name; an INTEGER holds 64 bits
                    assert _family(have) == _family(wanted), (table.name, column.name)
            primary = found.get_pk_constraint(table.name)["constrained_columns"]
            assert set(primary) == {c.name for c in table.primary_key.columns}, table.name
    finally:
        engine.dispose()


# --- a database of the previous release ----------------------------------------------------

OLD_OPEN = replace(FULL, id=1, incident_id=None, version=3, occurrences=41,
                   notified=("property_office",))
OLD_CLOSED = replace(make_ticket("tamper", ticket_id=2), status=Status.RESOLVED, open_key=None,
                     closed_at=1_000_500, acknowledged_at=1_000_100, version=4)


def _old_values(t: Ticket) -> dict[str, Any]:
    """A ticket as the previous release wrote it: written out by hand, not by the codec."""
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    loc = t.location
    return {
        "id": t.id, "kind": str(t.kind), "severity": str(t.severity), "status": str(t.status),
        "assignee": t.assignee, "notified": dumps(list(t.notified)),
        "chain": dumps(list(t.chain)), "device_id": t.device_id, "estate_id": loc.estate_id,
        "building": loc.building, "unit": loc.unit, "floor": loc.floor, "room": loc.room,
        "elderly_alone": int(t.elderly_alone), "household": t.household, "riser": t.riser,
        "phone": t.phone, "opened_at": t.opened_at, "first_seen": t.first_seen,
        "last_seen": t.last_seen, "updated_at": t.updated_at, "occurrences": t.occurrences,
        "route_id": t.route_id, "ack_due_at": t.ack_due_at, "on_site_due_at": t.on_site_due_at,
        "resolve_due_at": t.resolve_due_at, "convert_at": t.convert_at,
        "convert_to": None if t.convert_to is None else str(t.convert_to),
        "breaches": dumps(list(t.breaches)), "escalation_level": t.escalation_level,
        "acknowledged_at": t.acknowledged_at, "on_site_at": t.on_site_at,
        "closed_at": t.closed_at,
        "converted_from": None if t.converted_from is None else str(t.converted_from),
        "open_key": t.open_key, "evidence": dumps(dict(t.evidence)), "version": t.version,
        "next_check_at": t.next_check_at,
    }


def _old_event_record(t: Ticket) -> str:
    """An event snapshot of the first release (before incidents: no incident_id)."""
    record = {k: v for k, v in _old_values(t).items()
              if k not in ("estate_id", "building", "unit", "floor", "room", "next_check_at")}
    for name in ("notified", "chain", "breaches", "evidence"):
        record[name] = json.loads(record[name])
    record["elderly_alone"] = t.elderly_alone
    record["location"] = t.location.to_dict()
    return json.dumps(record, sort_keys=True)


def _make_released_database(url: str, versions: tuple[int, ...]) -> None:
    """The released schema (the migrations ``versions`` of it) with two tickets, a receipt,
    a timeline entry and an event in it, written with the drivers as that release did."""
    if url.startswith("sqlite:"):
        store = open_store(url)
        assert isinstance(store, SqliteStore)
        store.path.parent.mkdir(parents=True, exist_ok=True)
        conn: Any = sqlite3.connect(store.path, isolation_level=None)
        dialect = released.SQLITE
        conn.execute("BEGIN")
    else:
        conn = psycopg.connect(url)
        dialect = released.POSTGRES
    try:
        run = conn.execute
        run("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        for version in versions:
            for statement in released.statements(dialect, version):
                run(statement)
            run(dialect.sql("INSERT INTO schema_migrations (version) VALUES (?)"), (version,))
        for ticket in (OLD_OPEN, OLD_CLOSED):
            values = _old_values(ticket)
            run(dialect.sql(f"INSERT INTO tickets ({', '.join(values)}) "
                            f"VALUES ({', '.join('?' for _ in values)})"), tuple(values.values()))
        if dialect is released.POSTGRES:  # the ids were given: move the identity past them
            run("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 2)")
        run(dialect.sql("INSERT INTO alarm_receipts (alarm_id, state, kind, device_id, ts_ms, "
                        "received_at, ticket_id) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            ("al-old", "raise", "fire", OLD_OPEN.device_id, 10, 11, 1))
        run(dialect.sql("INSERT INTO timeline (ticket_id, ts_ms, type, actor, action, note, "
                        "rule_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
            (1, 12, "alarm", "gateway", None, "备注", None, '{"alarm_id":"al-old"}'))
        run(dialect.sql("UPDATE event_counter SET seq = 1 WHERE id = 1"))
        run(dialect.sql("INSERT INTO ticket_events (seq, ticket_id, ts_ms, ticket) "
                        "VALUES (?, ?, ?, ?)"), (1, 1, 13, _old_event_record(OLD_OPEN)))
        if dialect is released.SQLITE:
            conn.execute("COMMIT")
        else:
            conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("versions", [(1,), (1, 2)], ids=["first-release", "b8bdd9e"])
def test_a_released_database_is_upgraded_with_its_tickets_intact(database_url: str,
                                                                   versions: tuple[int, ...]):
    _make_released_database(database_url, versions)
    store = open_store(database_url)
    try:
        store.migrate()
        with store.transaction(20) as tx:
            assert tx.schema_versions() == [m[0] for m in MIGRATIONS]
            assert tx.get_ticket(1) == OLD_OPEN
            assert tx.get_ticket(2) == OLD_CLOSED
            assert tx.list_tickets() == [OLD_OPEN, OLD_CLOSED]
            (event,) = tx.events_after(0)
            assert (event.seq, event.ticket) == (1, OLD_OPEN)
            (entry,) = tx.timeline(1)
            assert (entry.note, dict(entry.data)) == ("备注", {"alarm_id": "al-old"})
            # The same alarm again is recognised as a repeat of the stored one.
            again = Receipt("al-old", "raise", "fire", OLD_OPEN.device_id, None, None, None, 10)
            assert tx.add_receipts([again], 20) == set()
            assert tx.receipt_ticket("al-old", "raise") == 1
        with store.transaction(21) as tx:  # new writes: a ticket, saves of both old ones
            fresh = tx.insert_ticket(make_ticket("arc_fault", incident_id=1))
            assert fresh is not None and fresh.id == 3
            occurred = tx.save(replace(OLD_OPEN, occurrences=OLD_OPEN.occurrences + 1))
            assert occurred is not None and occurred.version == OLD_OPEN.version + 1
            closed = tx.save(replace(OLD_CLOSED, assignee="police_room"))
            assert closed is not None and closed.version == OLD_CLOSED.version + 1
            tx.publish(fresh)
        with store.transaction(22) as tx:
            assert [e.seq for e in tx.events_after(0)] == [1, 2]
            assert tx.get_ticket(3) == fresh
    finally:
        store.close()


# --- the public form -------------------------------------------------------------------------

# Ticket fields no party is shown: the escalation chain, internal keys and counters.
KEPT_BACK = {"chain", "riser", "convert_at", "convert_to", "open_key", "version"}
RENAMED = {"route_id": "rule_id"}
DERIVED = {"due_at", "overdue", "allowed_actions"}


def test_every_ticket_field_is_public_or_kept_back_on_purpose():
    public = set(TicketPublic.model_fields)
    names = {f.name for f in fields(Ticket)}
    assert names - public == KEPT_BACK | set(RENAMED)
    assert public - names == DERIVED | set(RENAMED.values())


@pytest.mark.parametrize("party", list(Party))
def test_the_public_form_is_the_schema(party: Party):
    shown = public_ticket(FULL, party)
    assert set(shown) == set(TicketPublic.model_fields)
    assert TicketPublic.model_validate(shown).model_dump() == shown
