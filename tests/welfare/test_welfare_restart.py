"""A gateway started again learns its elderly households' rhythm from the telemetry recorded
before (the embedded store, real SQLite), instead of relearning for three weeks: a fall the
morning after a restart is raised as by a gateway that never stopped, and an alarm active at the
restart is sent again with its own id (one alarm), cleared by the return. The gateway service
does it at its start (real Mosquitto and a real HTTP peer for the platform)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gongzhi.core.settings import Settings
from gongzhi.devices.registry import Registry
from gongzhi.evaluation.welfare_sim import LEARN_DAYS
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.welfare_history import learn_from_history
from gongzhi.simulators.living import DAY_MS, HOUR_MS, Fault
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.gateway.gateway_support import AlarmPeer
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

WEEK_MS = 7 * DAY_MS


def test_a_restarted_gateway_judges_at_once_from_the_recorded_days(
        tmp_path: Path, fall: Fall) -> None:
    store(tmp_path / "telemetry.db", fall.before, fall.restart)
    after = fall.after

    relearning = DetectionEngine(Registry(RECORDS))
    assert raises(run(relearning, after)) == []  # without the history: learning for 21 days

    engine = DetectionEngine(Registry(RECORDS))
    with EmbeddedReader(tmp_path / "telemetry.db") as reader:
        learned = learn_from_history(engine, reader, Registry(RECORDS), fall.restart)
    assert (learned.households, learned.days, learned.alarms) == (1, LEARN_DAYS + 1, [])
    assert learned.reports == len(fall.rows) - len(after)
    [found] = raises(run(engine, after))
    never_stopped = fall.never_stopped
    assert found.alarm_id == never_stopped.alarm_id and found.ts_ms == never_stopped.ts_ms
    assert found.ts_ms > FALL and found.evidence == never_stopped.evidence


def test_an_alarm_active_at_the_restart_is_the_same_alarm_after_it(
        tmp_path: Path, trip: Trip) -> None:
    store(tmp_path / "telemetry.db", trip.before, trip.restart)

    engine = DetectionEngine(Registry(RECORDS))
    with EmbeddedReader(tmp_path / "telemetry.db") as reader:
        learned = learn_from_history(engine, reader, Registry(RECORDS), trip.restart)
    assert learned.alarms == [trip.raised]  # sent again: the outbox and the platform take a repeat
    later = run(engine, trip.after)
    assert later == [trip.cleared]  # not raised again; cleared by the return
    assert trip.cleared.evidence["sign_of_life_at_ms"] >= trip.back


@pytest.mark.integration
def test_the_gateway_service_learns_at_its_start(
        household_settings: Callable[..., Settings], peer: AlarmPeer) -> None:
    """Recorded telemetry in the gateway's own store, a silence's alarm active when it starts:
    the started gateway sends that alarm (the one a gateway that never stopped sent)."""
    restart_sim = FALL + 5 * HOUR_MS  # 12:00, the morning's alarm raised
    settings = household_settings()
    service = GatewayService(settings)
    now = service.clock.now_ms()
    shift = (now - restart_sim) // WEEK_MS * WEEK_MS  # whole weeks: the same days and hours
    rows = recorded(Fault("away", FALL, FALL + 3 * DAY_MS), LEARN_DAYS + 1, shift)
    [raised] = raises(whole([r for r in rows if r.ts_ms < now]))
    store(telemetry_db_path(settings), [r for r in rows if r.ts_ms < now], now)
    service.start()
    try:
        assert sent_again(peer, raised)["state"] == "raise"
    finally:
        service.stop()


@pytest.mark.integration
def test_a_history_that_cannot_be_read_leaves_the_rule_to_the_stream(
        household_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    """InfluxDB named but not answering: the gateway starts all the same and says why its
    households are learned from the stream."""
    service = GatewayService(household_settings(influx_url="http://127.0.0.1:1"))
    with caplog.at_level("WARNING", logger="gongzhi.gateway.service"):
        service.start()
    try:
        assert service.http is not None and service.http.port > 0
        [warning] = [r for r in caplog.records if "welfare rhythm not learned" in r.message]
        assert "learned from the stream" in warning.message
    finally:
        service.stop()
