"""One alarm's intake is decided on what it reads at the start and written at the end: a spy
on the store counts the statements it sends to the database (its round trips) and pins them,
so a change that goes back and forth between deciding and the store again shows here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hub_helpers import DEVICES, ESTATE
from sqlalchemy import event

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.core.clock import ManualClock
from gongzhi.devices.registry import Registry
from gongzhi.hub.duty import load_matrix
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.service import TicketService
from gongzhi.hub.store import open_store
from gongzhi.hub.store.base import CommitListener, Store
from gongzhi.hub.store.sql import SqlTx


class StoreSpy:
    """The store, recording the first word of each statement sent to the database."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.dialect_name = inner.dialect_name
        self.sent: list[str] = []
        self.transactions = 0

    def migrate(self) -> None:
        self.inner.migrate()

    @contextmanager
    def transaction(self, now: int) -> Iterator[SqlTx]:
        self.transactions += 1
        watched = None
        try:
            with self.inner.transaction(now) as tx:  # its BEGIN is not counted
                watched = tx.connection
                event.listen(watched, "before_cursor_execute", self._sent)
                yield tx
        finally:  # after the statements sent at commit
            if watched is not None:
                event.remove(watched, "before_cursor_execute", self._sent)

    def _sent(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(statement.split()[0])

    def ping(self) -> bool:
        return self.inner.ping()

    def add_commit_listener(self, listener: CommitListener) -> None:
        self.inner.add_commit_listener(listener)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[tuple[TicketService, StoreSpy]]:
    store = open_store(f"sqlite:///{tmp_path / 'platform.db'}")
    store.migrate()
    spy = StoreSpy(store)
    registry = Registry(DEVICES)
    service = TicketService(spy, load_matrix(None), lambda: registry, ManualClock(10_000_000),
                            Metrics())
    try:
        yield service, spy
    finally:
        store.close()


def _alarm(alarm_id: str, kind: AlarmKind, device_id: str, ts_ms: int,
           state: AlarmState = AlarmState.RAISE) -> Alarm:
    return Alarm(alarm_id, kind, device_id, ESTATE, ts_ms, state=state, evidence={"n": 1})


def _sent_for(service: TicketService, spy: StoreSpy, alarm: Alarm) -> list[str]:
    spy.sent.clear()
    spy.transactions = 0
    service.receive_alarm(alarm)
    assert spy.transactions == 1  # one transaction per alarm, never a second one
    return spy.sent


def test_one_alarm_is_read_once_decided_and_written_once(
        intake: tuple[TicketService, StoreSpy]):
    service, spy = intake
    first = _alarm("a1", AlarmKind.ELECTRICAL_LEAKAGE, "el-301", 1000)
    # Receipt; the active ticket (locked); the new ticket; its receipt's link; its timeline;
    # the event number and the event.
    assert _sent_for(service, spy, first) == [
        "INSERT", "SELECT", "INSERT", "UPDATE", "INSERT", "UPDATE", "INSERT"]
    # Delivered again: the receipt is there; which ticket it went to.
    assert _sent_for(service, spy, first) == ["INSERT", "SELECT"]
    # Another alarm of the same condition: the ticket is changed in memory and written once.
    again = _alarm("a2", AlarmKind.ELECTRICAL_LEAKAGE, "el-301", 2000)
    assert _sent_for(service, spy, again) == [
        "INSERT", "SELECT", "UPDATE", "UPDATE", "INSERT", "UPDATE", "INSERT"]
    # The condition went away: the receipt, the ticket of the raise, its link and timeline.
    clear = _alarm("a2", AlarmKind.ELECTRICAL_LEAKAGE, "el-301", 3000, AlarmState.CLEAR)
    assert _sent_for(service, spy, clear) == ["INSERT", "SELECT", "UPDATE", "INSERT"]


def test_every_history_count_routing_needs_is_one_statement(
        intake: tuple[TicketService, StoreSpy]):
    service, spy = intake
    queries = [q for q in service.matrix.history_queries() if "ebike_charging" in q.kinds]
    assert queries  # the default matrix routes repeated e-bike charging by its history
    sent = _sent_for(service, spy, _alarm("e1", AlarmKind.EBIKE_CHARGING, "el-corr", 1000))
    # Receipt, active ticket, the history counts, then the writes as above.
    assert sent == ["INSERT", "SELECT", "SELECT", "INSERT", "UPDATE", "INSERT", "UPDATE",
                    "INSERT"]
