"""Fire fusion: one detector is a smoke alarm; two detectors or smoke with heat is a fire."""

from __future__ import annotations

from typing import Any

import pytest
from detection_support import T0, event, record, telemetry

from gongzhi.core.alarms import Alarm, AlarmKind, alarm_id_for
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine

KITCHEN = record("s-301", "smoke", floor="3", household="h301")
BEDROOM = record("s-301b", "smoke", floor="3", household="h301", room="301b")
CORRIDOR = record("s-c3", "smoke", floor="3", room="corridor")
UPSTAIRS = record("s-401", "smoke", floor="4", household="h401", room="401")
OTHER_UNIT = record("s-u2-301", "smoke", floor="3", unit="2", household="h2301")
NEIGHBOUR = record("s-302", "smoke", floor="3", household="h302", room="302")
DEVICES = (KITCHEN, BEDROOM, CORRIDOR, UPSTAIRS, OTHER_UNIT, NEIGHBOUR)


def kinds(alarms: list[Alarm]) -> list[tuple[str, str]]:
    return [(a.kind.value, a.device_id) for a in alarms]


def engine() -> DetectionEngine:
    return DetectionEngine(Registry(DEVICES))


def test_one_detector_is_a_smoke_alarm_not_a_fire() -> None:
    alarms = engine().process([event(KITCHEN, 0, "smoke_alarm")])
    assert kinds(alarms) == [("smoke_alarm", "s-301")]


def test_household_and_corridor_detectors_on_one_floor_make_one_fire() -> None:
    e = engine()
    alarms = e.process([event(KITCHEN, 0, "smoke_alarm")])
    alarms += e.process([event(CORRIDOR, 40, "smoke_alarm")])
    alarms += e.process([event(BEDROOM, 50, "smoke_alarm")])  # folds into the same fire
    assert kinds(alarms) == [("smoke_alarm", "s-301"), ("smoke_alarm", "s-c3"),
                             ("fire", "s-301"), ("smoke_alarm", "s-301b")]
    fire = alarms[2]
    assert fire.ts_ms == T0 + 40_000
    assert fire.alarm_id == alarm_id_for("s-301", "fire", T0)
    assert fire.evidence["cause"] == "two_detectors"
    assert set(fire.evidence["detectors"]) == {"s-301", "s-c3"}


def test_two_detectors_in_one_household_in_one_batch() -> None:
    alarms = engine().process([event(KITCHEN, 0, "smoke_alarm"), event(BEDROOM, 2, "smoke_alarm")])
    assert [a.kind for a in alarms].count(AlarmKind.FIRE) == 1


def test_detectors_on_other_floors_units_or_far_apart_in_time_are_no_fire() -> None:
    e = engine()
    alarms = e.process([event(KITCHEN, 0, "smoke_alarm"), event(UPSTAIRS, 5, "smoke_alarm"),
                        event(OTHER_UNIT, 6, "smoke_alarm")])
    alarms += e.process([event(CORRIDOR, 600, "smoke_alarm")])  # ten minutes later
    assert AlarmKind.FIRE not in [a.kind for a in alarms]


def test_two_households_on_one_floor_are_two_kitchens_until_the_landing_smokes() -> None:
    e = engine()
    alarms = e.process([event(KITCHEN, 0, "smoke_alarm"), event(NEIGHBOUR, 20, "smoke_alarm")])
    assert AlarmKind.FIRE not in [a.kind for a in alarms]
    alarms = e.process([event(CORRIDOR, 60, "smoke_alarm")])
    fires = [a for a in alarms if a.kind is AlarmKind.FIRE]
    assert len(fires) == 1
    assert set(fires[0].evidence["detectors"]) == {"s-301", "s-302", "s-c3"}


def test_a_registry_without_households_takes_any_two_of_a_floor() -> None:
    first, second = (record(f"s-{n}", "smoke", floor="3", room=n) for n in ("301", "302"))
    alarms = DetectionEngine(Registry((first, second))).process(
        [event(first, 0, "smoke_alarm"), event(second, 20, "smoke_alarm")])
    assert [a.kind for a in alarms].count(AlarmKind.FIRE) == 1


def test_smoke_threshold_with_a_heat_rise_is_a_fire() -> None:
    e = engine()
    alarms = []
    for t in range(0, 300, 10):
        smoke = 0.0 if t < 60 else 0.5
        temp = 22.0 if t < 100 else 22.0 + (t - 100) * 0.1
        alarms += e.process([telemetry(KITCHEN, t, {"smoke_db_m": smoke, "temp_c": temp})])
    assert kinds(alarms) == [("smoke_alarm", "s-301"), ("fire", "s-301")]
    fire = alarms[1]
    assert fire.evidence["cause"] == "smoke_and_heat"
    assert fire.evidence["temp_rise_c"] >= 10.0
    assert fire.ts_ms == T0 + 200_000  # 22 + 10 °C reached at t = 200 s
    # The fire began with the smoke alarm, not with the latest smoke reading before the heat.
    smoke_raised = alarms[0].ts_ms
    assert fire.evidence["window"] == {"start_ms": smoke_raised, "end_ms": T0 + 200_000}
    assert fire.alarm_id == alarm_id_for("s-301", "fire", smoke_raised)


def test_a_short_cooking_spike_is_neither_smoke_alarm_nor_fire() -> None:
    e = engine()
    alarms = []
    for t in range(0, 120):
        smoke = 0.6 if 30 <= t < 34 else 0.01
        temp = 22.0 + (4.0 if 25 <= t < 60 else 0.0)  # the stove warms the kitchen a little
        for device in (KITCHEN, BEDROOM):
            alarms += e.process([telemetry(device, t, {"smoke_db_m": smoke, "temp_c": temp})])
    assert alarms == []


def heat_after_smoke(t: int) -> dict[str, float]:
    """Smoke at t = 60 s, the heat rise (10 °C) only at t = 400 s: smoke kept alive by
    continuing readings must still be there when the heat comes."""
    return {"smoke_db_m": 0.0 if t < 60 else 0.5,
            "temp_c": 22.0 if t < 300 else 22.0 + (t - 300) * 0.1}


def heat_then_smoke(t: int) -> dict[str, float]:
    return {"smoke_db_m": 0.0 if t < 200 else 0.5, "temp_c": 22.0 if t < 30 else 35.0}


def smoke_without_heat(t: int) -> dict[str, float]:
    return {"smoke_db_m": 0.0 if t < 60 else 0.5, "temp_c": 22.0}


@pytest.mark.parametrize("reading", [heat_after_smoke, heat_then_smoke, smoke_without_heat])
@pytest.mark.parametrize("batch", [2, 7, 60])
def test_a_batch_gives_the_fires_of_one_message_at_a_time(reading: Any, batch: int) -> None:
    messages = [telemetry(KITCHEN, t, reading(t)) for t in range(0, 600, 10)]
    one_by_one, batched = engine(), engine()
    expected = [a for m in messages for a in one_by_one.process([m])]
    got = [a for s in range(0, len(messages), batch)
           for a in batched.process(messages[s:s + batch])]
    assert [(a.kind, a.ts_ms, a.alarm_id) for a in got] == \
        [(a.kind, a.ts_ms, a.alarm_id) for a in expected]
