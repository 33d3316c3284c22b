"""The abuse limits' windows, kept in the ticket store, on an injected clock and on both dialects
(SQLite and the tests' PostgreSQL): a phone's fourth report in an hour waits until the first
leaves the window; the daily bound holds across hours; two platform replicas on one database
share one allowance, and requests at the same moment cannot all take its last place; a refused
report gives its place back; a restart keeps it; rows past the longest window are deleted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import func, select

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import StoreUnavailable
from gongzhi.hub.reports.limits import DAY_MS, HOUR_MS, Limited, ReportLimiter, Reservation
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


def _report(limiter: ReportLimiter, **who: str) -> Reservation:
    assert limiter.check(**who) is None
    place = limiter.reserve(**who)
    assert isinstance(place, Reservation)
    return place


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
            _report(limiter, **other)
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
            _report(limiter, device=f"d{index}", address=f"a{index}", building="e/1")
            clock.advance(60_000)
        clock.advance(DAY_MS)
        _report(limiter, **WHO)  # the sweep: every other key's rows are a day old
        with store.transaction(clock.now_ms()) as tx:
            keys = list(tx.connection.execute(
                select(report_limit_hits.c.key, func.count()).group_by(report_limit_hits.c.key)))
        assert sorted(k for k, _ in keys) == ["address|10.0.0.1|e/1", "device|d1|e/1"]


class _DownStore:
    """A store whose database is unreachable."""

    dialect_name = "sqlite"

    def transaction(self, now: int) -> AbstractContextManager[object]:
        raise StoreUnavailable("the database is down")


def test_a_store_that_cannot_say_refuses_nothing_it_could_keep(
        caplog: pytest.LogCaptureFixture) -> None:
    limiter = ReportLimiter(cast(Store, _DownStore()), ManualClock())
    with pytest.raises(StoreUnavailable):  # a new report waits for the store, like the rest
        limiter.reserve(**WHO)
    with pytest.raises(StoreUnavailable):
        limiter.check(**WHO)
    with caplog.at_level(logging.WARNING, logger="gongzhi.hub.reports.limits"):
        limiter.release(Reservation(("device|d1|e/1",), 5))  # the refusal's reason stands
    assert "was not given back" in caplog.text


def test_a_refused_report_gives_its_place_back(replicas: Replicas) -> None:
    clock = ManualClock()
    with replicas.start(clock) as (store, limiter):
        _report(limiter, **WHO)
        _report(limiter, **WHO)
        limiter.release(_report(limiter, **WHO))  # the third was refused after all
        assert limiter.check(**WHO) is None
        _report(limiter, **WHO)
        assert limiter.check(**WHO) is not None
        with store.transaction(clock.now_ms()) as tx:
            counts = {key: int(hits) for key, hits in tx.connection.execute(
                select(report_limit_hits.c.key, func.sum(report_limit_hits.c.hits))
                .where(report_limit_hits.c.at_ms >= 0).group_by(report_limit_hits.c.key))}
        assert counts == {"device|d1|e/1": 3, "address|10.0.0.1|e/1": 3}


def test_requests_at_the_same_moment_on_two_replicas_take_only_the_places_left(
        replicas: Replicas) -> None:
    """Twelve reports of one phone released together, half on each replica: three pass (the
    hourly limit), whatever the interleaving; checked and then counted apart, several more
    would pass the check before any was counted."""
    clock = ManualClock()
    with replicas.start(clock) as (_, first), replicas.start(clock) as (_, second):
        start = threading.Barrier(12)

        def one(limiter: ReportLimiter) -> Reservation | Limited:
            start.wait()
            return limiter.reserve(**WHO)

        with ThreadPoolExecutor(12) as pool:
            outcomes = list(pool.map(one, [first, second] * 6))
    assert sum(isinstance(o, Reservation) for o in outcomes) == 3
    assert {o.reason for o in outcomes if isinstance(o, Limited)} == {"device_hour"}
