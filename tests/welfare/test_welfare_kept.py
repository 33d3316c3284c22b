"""A gateway keeps what its welfare rule learned (``welfare.db``) and, started again, puts each
household back from it: with an embedded store that kept only its last 8 days it judges at once
(a fall is raised as by a gateway that never stopped; the relearning replay of those 8 days
raises nothing), an alarm active at the stop is the same alarm after it, a file that cannot be
read is set aside, said, and the households learned again, and a household no longer flagged
loses its kept days."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from gongzhi.core.clock import SystemClock
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import Registry, write_registry
from gongzhi.evaluation.welfare_sim import LEARN_DAYS
from gongzhi.gateway import sqlite
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.detection.rhythm import DayRecord
from gongzhi.gateway.detection.welfare import LearnedDay
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.welfare_history import learn_from_history
from gongzhi.gateway.welfare_records import (
    UnreadableRecords,
    WelfareRecords,
    decode_day,
    decode_state,
    encode_state,
    open_kept,
)
from gongzhi.simulators.living import DAY_MS, HOUR_MS, Fault
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.gateway.gateway_support import AlarmPeer, wait_until
from tests.welfare.welfare_support import (
    FALL,
    RECORDS,
    Fall,
    Trip,
    raises,
    recorded,
    run,
    sent_again,
    store,
    whole,
)

HOUSEHOLD = "sim/h1"  # household_key of RECORDS
HISTORY_DAYS = 42
EMBEDDED_DAYS = 8  # what the embedded store keeps (telemetry.embedded.DEFAULT_RETENTION_DAYS)


def learned_live(path: Path, rows: list[Telemetry]) -> None:
    """A gateway that took ``rows`` from the stream and kept its days as it learned them."""
    engine = DetectionEngine(Registry(RECORDS))
    engine.keep_welfare_days()
    records = WelfareRecords(path, HISTORY_DAYS)
    records.open()
    try:
        for i in range(0, len(rows), 500):
            engine.learn_welfare(rows[i:i + 500])  # the welfare rule as the stream feeds it
            records.save(engine.take_welfare_days())
    finally:
        records.close()


def started_again(tmp_path: Path, now_ms: int) -> tuple[DetectionEngine, int, int]:
    """An engine started at ``now_ms`` as the service starts it: the kept days loaded, then the
    embedded store's reports since. Returns it, the households put back, the reports read."""
    engine = DetectionEngine(Registry(RECORDS))
    opened = open_kept(tmp_path / "welfare.db", engine.welfare_history_days, [HOUSEHOLD], now_ms)
    assert opened.problem is None and opened.unreadable == {}
    try:
        with EmbeddedReader(tmp_path / "telemetry.db") as reader:
            learned = learn_from_history(engine, reader, Registry(RECORDS), now_ms,
                                         saved=opened.saved)
    finally:
        opened.records.close()
    return engine, learned.resumed, learned.reports


def test_kept_days_judge_at_once_on_a_store_of_eight_days(tmp_path: Path, fall: Fall) -> None:
    restart, never_stopped = fall.restart, fall.never_stopped
    before, after = fall.before, fall.after
    learned_live(tmp_path / "welfare.db", before)
    store(tmp_path / "telemetry.db", before, restart, EMBEDDED_DAYS)

    relearning = DetectionEngine(Registry(RECORDS))  # what a gateway without kept days does
    with EmbeddedReader(tmp_path / "telemetry.db") as reader:
        replayed = learn_from_history(relearning, reader, Registry(RECORDS), restart)
    assert replayed.resumed == 0 and replayed.days <= EMBEDDED_DAYS + 1
    assert raises(run(relearning, after)) == []  # 8 days are too few: learning for 13 more

    engine, resumed, reports = started_again(tmp_path, restart)
    assert resumed == 1
    assert 0 < reports < 3 * 60 + 8  # only today's, since 04:00 (a report a minute, water 1/15)
    [found] = raises(run(engine, after))
    assert found.alarm_id == never_stopped.alarm_id and found.ts_ms == never_stopped.ts_ms
    assert found.evidence == never_stopped.evidence  # the model summary too: the same days


def test_an_alarm_active_at_the_stop_is_the_same_alarm_after_it(
        tmp_path: Path, trip: Trip) -> None:
    learned_live(tmp_path / "welfare.db", trip.before)
    store(tmp_path / "telemetry.db", trip.before, trip.restart, EMBEDDED_DAYS)

    engine, resumed, _ = started_again(tmp_path, trip.restart)
    assert resumed == 1
    assert engine.welfare_learned() == [trip.raised]  # to the outbox again: the same id, a repeat
    assert run(engine, trip.after) == [trip.cleared]


def test_a_file_that_cannot_be_read_is_set_aside_and_the_households_learned_again(
        tmp_path: Path, fall: Fall) -> None:
    restart = fall.restart
    (tmp_path / "welfare.db").write_bytes(b"not a database, " * 512)
    store(tmp_path / "telemetry.db", fall.before, restart)

    engine = DetectionEngine(Registry(RECORDS))
    opened = open_kept(tmp_path / "welfare.db", HISTORY_DAYS, [HOUSEHOLD], restart)
    assert opened.problem is not None and "welfare.db.unreadable" in opened.problem
    assert opened.saved == {}
    assert (tmp_path / "welfare.db.unreadable").read_bytes().startswith(b"not a database")
    engine.keep_welfare_days()
    with EmbeddedReader(tmp_path / "telemetry.db") as reader:
        learned = learn_from_history(engine, reader, Registry(RECORDS), restart,
                                     saved=opened.saved)
    assert learned.resumed == 0 and learned.days == LEARN_DAYS + 1
    opened.records.save(engine.take_welfare_days())  # the new file keeps the days learned again
    saved, unreadable = opened.records.load([HOUSEHOLD], restart)
    opened.records.close()
    assert unreadable == {} and len(saved[HOUSEHOLD].days) == LEARN_DAYS + 1  # a part-day too
    [found] = raises(run(engine, fall.after))
    assert found.alarm_id == fall.never_stopped.alarm_id


def test_a_file_locked_by_another_process_is_not_set_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locked is not unreadable: the file stays as it is (the start goes on without it)."""
    learned_live(tmp_path / "welfare.db", recorded(Fault("no_activity", FALL), 3))
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_MS", 50)
    other = sqlite3.connect(tmp_path / "welfare.db", isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")  # WAL readers wait only for this
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            open_kept(tmp_path / "welfare.db", HISTORY_DAYS, [HOUSEHOLD], FALL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not (tmp_path / "welfare.db.unreadable").exists()
    opened = open_kept(tmp_path / "welfare.db", HISTORY_DAYS, [HOUSEHOLD], FALL)
    opened.records.close()
    assert list(opened.saved) == [HOUSEHOLD]


def test_a_household_whose_rows_cannot_be_read_is_learned_again(tmp_path: Path) -> None:
    rows = recorded(Fault("no_activity", FALL), 10)
    learned_live(tmp_path / "welfare.db", rows)
    with sqlite3.connect(tmp_path / "welfare.db") as conn:
        conn.execute("UPDATE welfare_state SET state = '{\"last_sign_ms\": \"yesterday\"}'")
    conn.close()
    opened = open_kept(tmp_path / "welfare.db", HISTORY_DAYS, [HOUSEHOLD], rows[-1].ts_ms)
    opened.records.close()
    assert opened.problem is None and opened.saved == {}
    assert "last_sign_ms" in opened.unreadable[HOUSEHOLD]


def test_a_day_record_is_read_by_its_fields_names() -> None:
    """A row written before a field was added takes the field's default; a field this version
    does not know (written by a later one) is left out."""
    assert decode_day(json.dumps({"day": 20460, "weekend": False, "first_min": 400.0,
                                  "last_min": 1250.0, "longest_gap_min": 200.0,
                                  "quiet_gap_min": None, "later_field": 3})) == DayRecord(
        20460, False, 400.0, 1250.0, 200.0, None, floor_w=None)
    with pytest.raises(UnreadableRecords, match="lacks"):
        decode_day(json.dumps({"day": 20460, "weekend": False}))


def test_a_household_state_round_trips_with_its_unknowns_and_its_alarm(tmp_path: Path) -> None:
    rows = recorded(Fault("away", FALL, FALL + 2 * DAY_MS), LEARN_DAYS + 2)
    engine = DetectionEngine(Registry(RECORDS))
    engine.keep_welfare_days()
    engine.learn_welfare(rows)
    days: list[LearnedDay] = engine.take_welfare_days()
    with_alarm = [d for d in days if d.state["open_raise"] is not None]
    assert with_alarm, "the away fault keeps an alarm active over a day's start"
    for learned in (days[0], with_alarm[0]):
        assert _same(decode_state(encode_state(learned.state)), learned.state)


def _same(a: object, b: object) -> bool:
    """Equal, a NaN equal to a NaN (an unknown power or reading)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return a == b


def test_days_older_than_the_history_are_dropped(tmp_path: Path) -> None:
    rows = recorded(Fault("no_activity", FALL), LEARN_DAYS + 1)
    records = WelfareRecords(tmp_path / "welfare.db", history_days=10)
    records.open()
    engine = DetectionEngine(Registry(RECORDS))
    engine.keep_welfare_days()
    engine.learn_welfare(rows)
    learned = engine.take_welfare_days()
    records.save(learned)
    saved, _ = records.load([HOUSEHOLD], rows[-1].ts_ms)
    stored = records._require().execute("SELECT min(day), max(day), count(*) FROM "
                                        "welfare_days").fetchone()
    records.close()
    newest = learned[-1].record.day
    assert stored == (newest - 9, newest, 10)
    assert [d.day for d in saved[HOUSEHOLD].days] == list(range(newest - 9, newest + 1))


# --- the gateway service (real Mosquitto, a real HTTP peer for the platform) -----------------


class ShiftedClock:
    """The system clock moved to the simulated recording's days."""

    def __init__(self, now_ms: int) -> None:
        self._shift = now_ms - SystemClock().now_ms()

    def now_ms(self) -> int:
        return SystemClock().now_ms() + self._shift


@pytest.mark.integration
def test_the_gateway_started_again_on_eight_days_judges_from_its_kept_days(
        household_settings: Callable[..., Settings], peer: AlarmPeer) -> None:
    """Stopped the evening before a trip's morning, started again at noon with only the last 8
    days in its embedded store: it sends the trip's alarm, as a gateway that never stopped."""
    settings = household_settings()
    rows = recorded(Fault("away", FALL, FALL + 3 * DAY_MS), LEARN_DAYS + 1)
    stop, restart = FALL - 17 * HOUR_MS, FALL + 5 * HOUR_MS
    [raised] = raises(whole([r for r in rows if r.ts_ms < restart]))
    assert stop < raised.ts_ms < restart
    store(telemetry_db_path(settings), [r for r in rows if r.ts_ms < stop], stop)
    first = GatewayService(settings, ShiftedClock(stop))
    first.start()  # the first start with the upgrade: learned again from 28 days, then kept
    try:
        assert first.health()["welfare_records"] == {
            "file": str(first._welfare_path), "kept": 0, "problem": None, "resumed": 0,
            "relearned": 1}
    finally:
        first.stop()
    for path in telemetry_db_path(settings).parent.glob("telemetry.db*"):
        path.unlink()
    store(telemetry_db_path(settings), [r for r in rows if r.ts_ms < restart], restart,
          EMBEDDED_DAYS)
    second = GatewayService(settings, ShiftedClock(restart))
    second.start()
    try:
        sent_again(peer, raised)
        status = second.health()["welfare_records"]
        assert (status["kept"], status["resumed"], status["problem"]) == (1, 1, None)
    finally:
        second.stop()


@pytest.mark.integration
def test_the_gateway_says_its_file_cannot_be_read_and_learns_again(
        household_settings: Callable[..., Settings], peer: AlarmPeer,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = household_settings()
    rows = recorded(Fault("away", FALL, FALL + 3 * DAY_MS), LEARN_DAYS + 1)
    restart = FALL + 5 * HOUR_MS
    [raised] = raises(whole([r for r in rows if r.ts_ms < restart]))
    store(telemetry_db_path(settings), [r for r in rows if r.ts_ms < restart], restart)
    service = GatewayService(settings, ShiftedClock(restart))
    service._welfare_path.parent.mkdir(parents=True)
    service._welfare_path.write_bytes(b"\0garbage" * 1024)
    with caplog.at_level("WARNING", logger="gongzhi.gateway.service"):
        service.start()
    try:
        [warning] = [r for r in caplog.records if "could not be read" in r.message]
        assert "welfare.db.unreadable" in warning.message
        problem = service.health()["welfare_records"]["problem"]
        assert "could not be read" in problem and "learned again" in problem
        assert service.status_report()["problems"] == [problem]  # the wall's banner
        sent_again(peer, raised)
    finally:
        service.stop()
    records = WelfareRecords(service._welfare_path, HISTORY_DAYS)
    records.open()
    saved, _ = records.load([HOUSEHOLD], restart)
    records.close()
    assert len(saved[HOUSEHOLD].days) == LEARN_DAYS + 1  # the new file keeps them again


@pytest.mark.integration
def test_a_household_no_longer_flagged_loses_its_kept_days(
        household_settings: Callable[..., Settings]) -> None:
    settings = household_settings()
    rows = recorded(Fault("no_activity", FALL), 10)
    now = rows[-1].ts_ms + 1
    store(telemetry_db_path(settings), rows, now)
    service = GatewayService(settings, ShiftedClock(now))
    service.start()
    try:
        assert _kept_households(service._welfare_path) == {HOUSEHOLD}
        write_registry(settings.registry_path,
                       [replace(r, elderly_alone=False) for r in RECORDS])
        service.request_reload()
        wait_until(lambda: _kept_households(service._welfare_path) == set(),
                   what="the household's kept days deleted")
    finally:
        service.stop()


def _kept_households(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = {k for (k,) in conn.execute("SELECT household FROM welfare_days UNION "
                                            "SELECT household FROM welfare_state")}
    conn.close()
    return found
