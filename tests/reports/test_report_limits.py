"""The abuse limits' windows, kept in the ticket store, on an injected clock and on both dialects
(SQLite and the tests' PostgreSQL): a phone's fourth report in an hour waits until the first
leaves the window; the daily bound holds across hours; two platform replicas on one database
share one allowance; a restart keeps it; rows past the longest window are deleted; a report the
store cannot count is not the resident's error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import func, select

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import StoreUnavailable
from gongzhi.hub.reports.limits import DAY_MS, HOUR_MS, ReportLimiter
from gongzhi.hub.store import open_store
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.tables import report_limit_hits

WHO = {"device": "d1", "address": "10.0.0.1", "building": "e/1"}


class Replicas:
    """Platform processes on one database: each ``start`` opens a store of its own (migrated)
    and its limiter on the shared clock, and closes the store at the end."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def start(self, clock: ManualClock) -> Iterator[tuple[Store, ReportLimiter]]:
        store = open_store(self.url)
        store.migrate()
        try:
            yield store, ReportLimiter(store, clock)
        finally:
            store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replicas(request: pytest.FixtureRequest, data_dir: Path) -> Replicas:
    return Replicas(f"sqlite:///{data_dir / 'limits.db'}" if request.param == "sqlite"
                    else request.getfixturevalue("postgres_url"))


def _report(limiter: ReportLimiter, **who: str) -> None:
    assert limiter.check(**who) is None
    limiter.record(**who)


def test_the_hourly_limit_lifts_when_the_oldest_report_leaves_the_window(
        replicas: Replicas) -> None:
    clock = ManualClock()
    with replicas.start(clock) as (_, limiter):
        for _ in range(3):
            _report(limiter, **WHO)
            clock.advance(60_000)
        limited = limiter.check(**WHO)
        assert limited is not None and limited.reason == "device_hour"
        assert limited.retry_after_s == (HOUR_MS - 3 * 60_000) // 1000
        clock.advance(limited.retry_after_s * 1000 - 1)
        assert limiter.check(**WHO) is not None
        clock.advance(1)
        assert limiter.check(**WHO) is None


def test_the_daily_limit_holds_across_hours(replicas: Replicas) -> None:
    clock = ManualClock()
    with replicas.start(clock) as (_, limiter):
        for _ in range(10):
            _report(limiter, **WHO)
            clock.advance(HOUR_MS)
        limited = limiter.check(**WHO)
        assert limited is not None and limited.reason == "device_day"
        assert limited.retry_after_s == DAY_MS // 1000 - 10 * 3600
        # Another phone behind the same address is still let through.
        assert limiter.check(**{**WHO, "device": "d2"}) is None


def test_two_replicas_on_one_database_share_the_allowance(replicas: Replicas) -> None:
    clock = ManualClock()
    with replicas.start(clock) as (_, first), replicas.start(clock) as (_, second):
        _report(first, **WHO)
        _report(second, **WHO)
        for index in range(7):  # new phones behind the same address, on both replicas
            _report((first, second)[index % 2], **{**WHO, "device": f"p{index}"})
        _report(second, **WHO)  # the phone's third this hour, the address's tenth
        for limiter in (first, second):
            limited = limiter.check(**WHO)
            assert limited is not None and limited.reason == "device_hour"
            fresh = limiter.check(**{**WHO, "device": "new"})
            assert fresh is not None and fresh.reason == "address_hour"
        # Two reports in the same millisecond on both replicas count twice.
        other = {"device": "x", "address": "10.9.9.9", "building": "e/2"}
        for limiter in (first, second, first):
            limiter.record(**other)
        late = second.check(**other)
        assert late is not None and late.reason == "device_hour"


def test_a_restart_keeps_the_count_and_the_window_passing_frees_it(replicas: Replicas) -> None:
    clock = ManualClock()
    with replicas.start(clock) as (_, limiter):
        for _ in range(3):
            _report(limiter, **WHO)
    with replicas.start(clock) as (_, limiter):  # the platform started again
        limited = limiter.check(**WHO)
        assert limited is not None and limited.reason == "device_hour"
        assert limited.retry_after_s == HOUR_MS // 1000
        clock.advance(HOUR_MS)
        assert limiter.check(**WHO) is None


def test_rows_past_the_longest_window_are_deleted(replicas: Replicas) -> None:
    clock = ManualClock()
    with replicas.start(clock) as (store, limiter):
        for index in range(20):
            limiter.record(device=f"d{index}", address=f"a{index}", building="e/1")
            clock.advance(60_000)
        clock.advance(DAY_MS)
        limiter.record(**WHO)  # the sweep: every other key's rows are a day old
        with store.transaction(clock.now_ms()) as tx:
            keys = list(tx.connection.execute(
                select(report_limit_hits.c.key, func.count()).group_by(report_limit_hits.c.key)))
        assert sorted(k for k, _ in keys) == ["address|10.0.0.1|e/1", "device|d1|e/1"]


class _DownStore:
    """A store whose database is unreachable."""

    dialect_name = "sqlite"

    def transaction(self, now: int) -> AbstractContextManager[object]:
        raise StoreUnavailable("the database is down")


def test_an_accepted_report_the_store_cannot_count_is_logged_not_refused(
        caplog: pytest.LogCaptureFixture) -> None:
    limiter = ReportLimiter(cast(Store, _DownStore()), ManualClock())
    with caplog.at_level(logging.WARNING, logger="gongzhi.hub.reports.limits"):
        limiter.record(**WHO)  # the report is kept and its ticket open: no error for it
    assert "was not counted" in caplog.text
    with pytest.raises(StoreUnavailable):  # a new report waits for the store, like the rest
        limiter.check(**WHO)
