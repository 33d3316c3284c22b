"""One open alarm per device and kind: rules that see the same condition fold together."""

from __future__ import annotations

from detection_support import event, record, telemetry

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionConfig, DetectionEngine


def test_the_detectors_own_event_folds_into_the_open_threshold_alarm() -> None:
    device = record("s1", "smoke")
    engine = DetectionEngine(Registry([device]), DetectionConfig(clear_hold_ms=0))
    alarms = engine.process([telemetry(device, 0, {"smoke_db_m": 0.5})])
    alarms += engine.process([telemetry(device, 6, {"smoke_db_m": 0.5}),
                              event(device, 6, "smoke_alarm")])
    assert [(a.kind, a.state, a.evidence["rule"]) for a in alarms] == [
        (AlarmKind.SMOKE_ALARM, AlarmState.RAISE, "threshold")]
    # Once the threshold alarm has cleared, a new event is a new occurrence again.
    alarms = engine.process([telemetry(device, 20, {"smoke_db_m": 0.0})])
    assert [a.state for a in alarms] == [AlarmState.CLEAR]
    alarms = engine.process([event(device, 30, "smoke_alarm")])
    assert [(a.state, a.evidence["rule"]) for a in alarms] == [(AlarmState.RAISE, "event")]


def test_events_without_a_telemetry_twin_stay_separate_occurrences() -> None:
    device = record("s1", "smoke")
    engine = DetectionEngine(Registry([device]))
    alarms = engine.process([event(device, t, "tamper") for t in range(3)])
    assert [a.kind for a in alarms] == [AlarmKind.TAMPER] * 3


def test_a_drop_from_over_pressure_is_not_a_burst() -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    alarms = []
    for t, v in [(0, 1.2), (10, 1.2), (20, 0.5), (30, 0.5)]:
        alarms += engine.process([telemetry(device, t, {"pressure_mpa": v})])
    assert AlarmKind.WATER_PRESSURE_DROP not in [a.kind for a in alarms]
