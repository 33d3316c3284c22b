"""Builders for the welfare tests: the simulated household h1 (a monitor and a water meter,
elderly-alone) recorded around a fall or a trip, the alarms a gateway that never stopped raised,
and its telemetry store as a restart finds it.

A module of its own (not conftest) so that tests import it by a name no other folder uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
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
from gongzhi.gateway.telemetry_store import TelemetryStore
from gongzhi.simulators.living import DAY_MS, DEVELOPMENT_SEEDS, HOUR_MS, MINUTE_MS, Fault, simulate
from tests.gateway.gateway_support import AlarmPeer, wait_until

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


def store(path: Path, rows: list[Telemetry], now_ms: int, days: int = 60) -> None:
    """The telemetry store as a gateway keeping ``days`` days left it at ``now_ms``."""
    writer = TelemetryStore(path, retention_days=days)
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


def whole(rows: list[Telemetry]) -> list[Alarm]:
    """What the welfare rule of a gateway that never stopped raised (the rule alone: the same
    alarms as the whole engine, tests/welfare/test_welfare_real.py)."""
    return watch_alarms(Registry(RECORDS), [_series(rows, d) for d in ("h1-em", "h1-wm")])


def _series(rows: list[Telemetry], device_id: str) -> DeviceSeries:
    mine = [r for r in rows if r.device_id == device_id]
    names = list(mine[0].values)
    return DeviceSeries(device_id, np.array([r.ts_ms for r in mine], np.int64),
                        {n: np.array([r.values[n] for r in mine]) for n in names})


def sent_again(peer: AlarmPeer, raised: Alarm) -> dict[str, Any]:
    """``raised`` reaches the platform, as the gateway that never stopped sent it, and is the
    only welfare alarm there."""
    sent: dict[str, Any] = wait_until(lambda: peer.alarms.get(f"{raised.alarm_id}/raise"),
                                      what="the alarm")
    assert sent["evidence"] == raised.evidence
    assert [a for a in peer.alarms.values() if a["kind"] == "welfare_check"] == [sent]
    return sent


@dataclass(frozen=True)
class Cut:
    """A recording of the household and the time a gateway is started again within it."""

    rows: list[Telemetry]
    restart: int

    @property
    def before(self) -> list[Telemetry]:
        return [r for r in self.rows if r.ts_ms < self.restart]

    @property
    def after(self) -> list[Telemetry]:
        return [r for r in self.rows if r.ts_ms >= self.restart]


@dataclass(frozen=True)
class Fall(Cut):
    """No sign of life from ``FALL`` on, the gateway started again at 05:00 before it;
    ``never_stopped`` is the alarm a gateway that never stopped raised."""

    never_stopped: Alarm


@dataclass(frozen=True)
class Trip(Cut):
    """Away from ``FALL`` until ``back``, the gateway started again on the second day of the
    silence: the alarm ``raised`` is active then, ``cleared`` by the return."""

    back: int
    raised: Alarm
    cleared: Alarm
