"""The store on SQLite and the real PostgreSQL: migrations, the event sequence, URLs."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hub_helpers import make_ticket

from gongzhi.core.errors import ConfigError
from gongzhi.hub.store import open_store
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.schema import MIGRATIONS, SQLITE, statements
from gongzhi.hub.store.sqlite import SqliteStore


def test_every_migration_applies_once_and_in_order(database_url: str):
    store = open_store(database_url)
    try:
        store.migrate()
        store.migrate()  # idempotent
        with store.transaction(0) as tx:
            saved = tx.insert_ticket(make_ticket("tamper", incident_id=None))
            assert saved is not None and saved.id > 0
            versions = tx.schema_versions()
        assert versions == [m[0] for m in MIGRATIONS]
    finally:
        store.close()


def test_an_old_database_is_upgraded_keeping_its_tickets(tmp_path: Path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a database of the first release: version 1 only
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                     "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        for statement in statements(SQLITE, 1):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        conn.execute("INSERT INTO tickets (kind, severity, status, assignee, notified, chain, "
                     "device_id, estate_id, building, unit, floor, room, elderly_alone, "
                     "opened_at, first_seen, last_seen, updated_at, occurrences, route_id, "
                     "breaches, escalation_level, evidence, version) VALUES ('tamper', "
                     "'major', 'open', 'police_room', '[]', '[]', 'd', 'e', 'B', 'U', 'F', "
                     "'R', 0, 1, 1, 1, 1, 1, 'security', '[]', 0, '{}', 1)")
    conn.close()
    store = SqliteStore(path)
    try:
        store.migrate()
        with store.transaction(0) as tx:
            old = tx.get_ticket(1)
        assert old is not None and old.kind == "tamper" and old.incident_id is None
    finally:
        store.close()


@pytest.mark.postgres
def test_replicas_starting_together_migrate_once(postgres_url: str):
    stores = [open_store(postgres_url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def start(store: Store) -> None:
        barrier.wait()
        try:
            store.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with stores[0].transaction(0) as tx:
            assert tx.schema_versions() == [m[0] for m in MIGRATIONS]
    finally:
        for store in stores:
            store.close()


def test_event_numbers_follow_commits_and_survive_reopening(database_url: str):
    store = open_store(database_url)
    store.migrate()
    seen: list[int] = []
    store.add_commit_listener(lambda events: seen.extend(e.seq for e in events))
    with store.transaction(10) as tx:
        ticket = tx.insert_ticket(make_ticket("tamper"))
        assert ticket is not None
        tx.publish(ticket)
        tx.publish(ticket)  # two changes in one transaction: one event, the last state
    with pytest.raises(RuntimeError), store.transaction(11) as tx:
        tx.publish(ticket)
        raise RuntimeError("rolled back: no event")
    with store.transaction(12) as tx:
        tx.publish(ticket)
    store.close()
    assert seen == [1, 2]
    again = open_store(database_url)
    try:
        with again.transaction(0) as tx:
            events = tx.events_after(0)
            assert tx.last_event_seq() == 2
        assert [(e.seq, e.ts_ms, e.ticket.id) for e in events] == [(1, 10, ticket.id),
                                                                   (2, 12, ticket.id)]
    finally:
        again.close()


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///relative/x.db", "relative/x.db"), ("sqlite:////abs/x.db", "/abs/x.db")])
def test_sqlite_urls(url: str, path: str):
    store = open_store(url)
    assert isinstance(store, SqliteStore) and str(store.path) == path


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "nonsense"])
def test_bad_urls(url: str):
    with pytest.raises(ConfigError, match="GONGZHI_DATABASE_URL"):
        open_store(url)
