"""Rate of change, device events, and batch processing equal to one-by-one processing."""

from __future__ import annotations

import random

import pytest
from detection_support import T0, event, record, telemetry

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.messages import Telemetry

DROP_CASES = [
    ("sudden fall of 0.06 MPa in 20 s", [(0, 0.30), (10, 0.30), (20, 0.27), (30, 0.24)], [30]),
    ("fall of 0.04 MPa is not enough", [(0, 0.30), (10, 0.28), (20, 0.26)], []),
    ("slow decline over ten minutes", [(t, 0.30 - t * 0.0001) for t in range(0, 600, 10)], []),
    ("fall measured against the window maximum", [(0, 0.25), (20, 0.31), (40, 0.26)], [40]),
    ("a fall older than the window does not count",
     [(0, 0.31), (200, 0.26), (210, 0.26)], []),
]


@pytest.mark.parametrize(("case", "series", "raised_at"), DROP_CASES,
                         ids=[c[0] for c in DROP_CASES])
def test_pressure_drop_table(case: str, series: list[tuple[float, float]],
                             raised_at: list[float]) -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    alarms = []
    for t, v in series:
        alarms += engine.process([telemetry(device, t, {"pressure_mpa": v})])
    drops = [a for a in alarms if a.kind is AlarmKind.WATER_PRESSURE_DROP]
    assert [(a.ts_ms - T0) / 1000 for a in drops] == raised_at
    for alarm in drops:
        assert alarm.evidence["rule"] == "rate"
        assert alarm.evidence["reference_max"] - alarm.evidence["value"] >= 0.05


def test_drop_clears_once_the_window_has_passed_and_the_hold_off_too() -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    alarms = []
    for t in range(0, 400, 10):
        alarms += engine.process([telemetry(device, t, {"pressure_mpa": 0.3 if t < 50 else 0.2})])
    assert [a.state for a in alarms] == [AlarmState.RAISE, AlarmState.CLEAR]
    assert alarms[0].alarm_id == alarms[1].alarm_id


EVENT_CASES = [
    ("smoke_alarm", AlarmKind.SMOKE_ALARM, "smoke"),
    ("tamper", AlarmKind.TAMPER, "smoke"),
    ("low_battery", AlarmKind.LOW_BATTERY, "smoke"),
    ("self_test_fail", AlarmKind.SENSOR_FAULT, "water_pressure"),
    ("arc_fault", AlarmKind.ARC_FAULT, "electrical"),
    ("silenced", None, "smoke"),
]


@pytest.mark.parametrize(("name", "kind", "device_type"), EVENT_CASES)
def test_events_map_through_the_catalogue(name: str, kind: AlarmKind | None,
                                          device_type: str) -> None:
    device = record("d1", device_type)
    engine = DetectionEngine(Registry([device]))
    alarms = engine.process([event(device, 5, name, level=3)])
    if kind is None:
        assert alarms == []
        return
    (alarm,) = alarms
    assert (alarm.kind, alarm.state, alarm.ts_ms) == (kind, AlarmState.RAISE, T0 + 5000)
    assert alarm.evidence["event"] == name and alarm.evidence["detail"] == {"level": 3}


def test_each_event_is_an_occurrence_with_its_own_id() -> None:
    device = record("d1", "smoke")
    engine = DetectionEngine(Registry([device]))
    alarms = engine.process([event(device, t, "tamper") for t in range(10)])
    assert len({a.alarm_id for a in alarms}) == 10


def random_stream(seed: int) -> tuple[Registry, list[Telemetry]]:
    rng = random.Random(seed)
    devices = [record(f"e{i}", "electrical") for i in range(4)] + [
        record(f"p{i}", "water_pressure") for i in range(3)]
    messages = []
    for device in devices:
        t = 0.0
        for _ in range(30):
            t += rng.choice([1, 3, 7, 20, 90])
            if device.type.value == "electrical":
                values = {"residual_ma": rng.choice([50, 280, 320, 500]),
                          "voltage_v": rng.choice([180, 220, 245]), "current_a": 10.0}
            else:
                values = {"pressure_mpa": rng.choice([0.05, 0.09, 0.12, 0.3, 1.1])}
            messages.append(telemetry(device, t, values))
    # Interleave devices, keep each device in time order except a few late arrivals.
    rng.shuffle(messages)
    messages.sort(key=lambda m: (m.device_id, m.ts_ms))
    interleaved = sorted(messages, key=lambda m: m.ts_ms + rng.randint(-5000, 5000))
    return Registry(devices), interleaved


@pytest.mark.parametrize("seed", range(5))
def test_batches_give_the_same_alarms_as_one_message_at_a_time(seed: int) -> None:
    registry, messages = random_stream(seed)
    single = DetectionEngine(registry)
    one_by_one = [a for m in messages for a in single.process([m])]
    batched_engine = DetectionEngine(registry)
    batched = []
    for start in range(0, len(messages), 37):
        batched += batched_engine.process(messages[start:start + 37])
    assert one_by_one, "the stream should raise something"
    key = lambda a: (a.alarm_id, a.state.value, a.ts_ms)  # noqa: E731
    assert sorted(map(key, batched)) == sorted(map(key, one_by_one))
