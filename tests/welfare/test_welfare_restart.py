"""A gateway started again learns its elderly households' rhythm from the telemetry recorded
before (the embedded store, real SQLite), instead of relearning for three weeks: a fall the
morning after a restart is raised as by a gateway that never stopped, and an alarm active at the
restart is sent again with its own id (one alarm), cleared by the return. The gateway service
does it at its start (real Mosquitto and a real HTTP peer for the platform)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import Registry, write_registry
from gongzhi.evaluation.welfare_sim import (
    LEARN_DAYS,
    START_MS,
    household_records,
    household_series,
    telemetry_rows,
    watch_alarms,
)
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.telemetry_store import TelemetryStore
from gongzhi.gateway.welfare_history import learn_from_history
from gongzhi.simulators.living import DAY_MS, DEVELOPMENT_SEEDS, HOUR_MS, MINUTE_MS, Fault, simulate
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.conftest import Broker
from tests.gateway.gateway_support import AlarmPeer, gateway_settings, wait_until

WEEK_MS = 7 * DAY_MS
FALL = START_MS + LEARN_DAYS * DAY_MS + 7 * HOUR_MS  # a Monday, 07:00
RECORDS = household_records("h1")  # a monitor and a water meter, elderly-alone


def late_riser() -> int:
    """A development seed whose person is still asleep at 07:00 on the day of ``FALL``."""
    for seed in DEVELOPMENT_SEEDS:
        if simulate(seed, START_MS, LEARN_DAYS + 1).wake_ms[LEARN_DAYS] > FALL + 20 * MINUTE_MS:
            return seed
    raise AssertionError("no development seed sleeps past 07:00")


def recorded(fault: Fault, days: int, shift_ms: int = 0) -> list[Telemetry]:
    """The household's reports over ``days`` (time moved by ``shift_ms``), in time order."""
    living = simulate(late_riser(), START_MS, days, faults=(fault,))
    series = [DeviceSeries(s.device_id, s.ts + shift_ms, s.values)
              for s in household_series("h1", living)]
    return telemetry_rows(Registry(RECORDS), series)


def store(path: Path, rows: list[Telemetry], now_ms: int) -> None:
    """What the gateway's telemetry store kept before its restart."""
    writer = TelemetryStore(path, retention_days=60)
    writer.open()
    try:
        writer.write(rows, now_ms)
    finally:
        writer.close()


def raises(alarms: list[Alarm]) -> list[Alarm]:
    return [a for a in alarms if a.kind is AlarmKind.WELFARE_CHECK
            and a.state is AlarmState.RAISE]


def run(engine: DetectionEngine, rows: list[Telemetry]) -> list[Alarm]:
    found: list[Alarm] = []
    for i in range(0, len(rows), 50):
        found += engine.process(rows[i:i + 50])
    return [a for a in found if a.kind is AlarmKind.WELFARE_CHECK]


def test_a_restarted_gateway_judges_at_once_from_the_recorded_days(tmp_path: Path) -> None:
    rows = recorded(Fault("no_activity", FALL), LEARN_DAYS + 1)
    restart = FALL - 2 * HOUR_MS  # 05:00, before the fall
    [never_stopped] = raises(_whole(rows))
    store(tmp_path / "telemetry.db", [r for r in rows if r.ts_ms < restart], restart)
    after = [r for r in rows if r.ts_ms >= restart]

    relearning = DetectionEngine(Registry(RECORDS))
    assert raises(run(relearning, after)) == []  # without the history: learning for 21 days

    engine = DetectionEngine(Registry(RECORDS))
    with EmbeddedReader(tmp_path / "telemetry.db") as reader:
        learned = learn_from_history(engine, reader, Registry(RECORDS), restart)
    assert (learned.households, learned.days, learned.alarms) == (1, LEARN_DAYS + 1, [])
    assert learned.reports == len(rows) - len(after)
    [found] = raises(run(engine, after))
    assert found.alarm_id == never_stopped.alarm_id and found.ts_ms == never_stopped.ts_ms
    assert found.ts_ms > FALL and found.evidence == never_stopped.evidence


def _whole(rows: list[Telemetry]) -> list[Alarm]:
    """What the welfare rule of a gateway that never stopped raised (the rule alone: the same
    alarms as the whole engine, tests/welfare/test_welfare_real.py)."""
    return watch_alarms(Registry(RECORDS), [_series(rows, d) for d in ("h1-em", "h1-wm")])


def _series(rows: list[Telemetry], device_id: str) -> DeviceSeries:
    mine = [r for r in rows if r.device_id == device_id]
    names = list(mine[0].values)
    return DeviceSeries(device_id, np.array([r.ts_ms for r in mine], np.int64),
                        {n: np.array([r.values[n] for r in mine]) for n in names})


def test_an_alarm_active_at_the_restart_is_the_same_alarm_after_it(tmp_path: Path) -> None:
    back = FALL + 2 * DAY_MS + 9 * HOUR_MS
    rows = recorded(Fault("away", FALL, back), LEARN_DAYS + 4)
    whole = _whole(rows)
    [raised] = raises(whole)
    [cleared] = [a for a in whole if a.state is AlarmState.CLEAR]
    restart = raised.ts_ms + DAY_MS  # the second day of the silence
    store(tmp_path / "telemetry.db", [r for r in rows if r.ts_ms < restart], restart)

    engine = DetectionEngine(Registry(RECORDS))
    with EmbeddedReader(tmp_path / "telemetry.db") as reader:
        learned = learn_from_history(engine, reader, Registry(RECORDS), restart)
    assert learned.alarms == [raised]  # sent again: the outbox and the platform take a repeat
    later = run(engine, [r for r in rows if r.ts_ms >= restart])
    assert later == [cleared]  # not raised again; cleared by the return
    assert cleared.evidence["sign_of_life_at_ms"] >= back


@pytest.mark.integration
def test_the_gateway_service_learns_at_its_start(data_dir: Path, broker: Broker,
                                                  peer: AlarmPeer) -> None:
    """Recorded telemetry in the gateway's own store, a silence's alarm active when it starts:
    the started gateway sends that alarm (the one a gateway that never stopped sent)."""
    restart_sim = FALL + 5 * HOUR_MS  # 12:00, the morning's alarm raised
    settings = gateway_settings(data_dir, f"mqtt://127.0.0.1:{broker.port}", peer.url)
    write_registry(settings.registry_path, RECORDS)
    service = GatewayService(settings)
    now = service.clock.now_ms()
    shift = (now - restart_sim) // WEEK_MS * WEEK_MS  # whole weeks: the same days and hours
    rows = recorded(Fault("away", FALL, FALL + 3 * DAY_MS), LEARN_DAYS + 1, shift)
    [raised] = raises(_whole([r for r in rows if r.ts_ms < now]))
    store(telemetry_db_path(settings), [r for r in rows if r.ts_ms < now], now)
    service.start()
    try:
        sent = wait_until(lambda: peer.alarms.get(f"{raised.alarm_id}/raise"),
                          what="the active alarm")
        assert sent["state"] == "raise" and sent["evidence"] == raised.evidence
        assert [a for a in peer.alarms.values() if a["kind"] == "welfare_check"] == [sent]
    finally:
        service.stop()


@pytest.mark.integration
def test_a_history_that_cannot_be_read_leaves_the_rule_to_the_stream(
        data_dir: Path, broker: Broker, peer: AlarmPeer,
        caplog: pytest.LogCaptureFixture) -> None:
    """InfluxDB named but not answering: the gateway starts all the same and says why its
    households are learned from the stream."""
    settings = gateway_settings(data_dir, f"mqtt://127.0.0.1:{broker.port}", peer.url,
                                influx_url="http://127.0.0.1:1")
    write_registry(settings.registry_path, RECORDS)
    service = GatewayService(settings)
    with caplog.at_level("WARNING", logger="gongzhi.gateway.service"):
        service.start()
    try:
        assert service.http is not None and service.http.port > 0
        [warning] = [r for r in caplog.records if "welfare rhythm not learned" in r.message]
        assert "learned from the stream" in warning.message
    finally:
        service.stop()
