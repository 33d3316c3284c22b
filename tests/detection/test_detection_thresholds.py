"""Threshold rules: minimum duration, hysteresis, clear hold-off, overrides (table tests)."""

from __future__ import annotations

from typing import Any

import pytest
from detection_support import T0, record, telemetry

from gongzhi.core.alarms import AlarmKind, AlarmState, alarm_id_for
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionConfig, DetectionEngine

CLEAR_HOLD_S = 120

# (case, device type, settings, metric, [(t_s, value)], [(t_s, kind, state, onset_s)])
CASES: list[tuple[str, str, dict[str, float], str, list[tuple[float, float]],
                  list[tuple[float, str, str, float]]]] = [
    ("leak held 5 s raises with onset at first breach", "electrical", {}, "residual_ma",
     [(0, 120), (10, 350), (13, 360), (16, 340)],
     [(16, "electrical_leakage", "raise", 10)]),
    ("leak spike shorter than the hold is ignored", "electrical", {}, "residual_ma",
     [(0, 350), (3, 360), (4, 100), (20, 100)], []),
    ("inside the hysteresis band does not clear", "electrical", {}, "residual_ma",
     [(0, 350), (6, 350), (10, 280), (200, 280), (400, 285)],
     [(6, "electrical_leakage", "raise", 0)]),
    ("clears after the clear hold-off below the band", "electrical", {}, "residual_ma",
     [(0, 350), (6, 350), (10, 200), (100, 200), (130, 200)],
     [(6, "electrical_leakage", "raise", 0), (130, "electrical_leakage", "clear", 0)]),
    ("per-device override of the threshold", "electrical", {"leak_alarm_ma": 100.0},
     "residual_ma", [(0, 150), (6, 150)], [(6, "electrical_leakage", "raise", 0)]),
    ("voltage low and high both alarm (outside)", "electrical", {}, "voltage_v",
     [(0, 180), (61, 181), (70, 220), (200, 220), (400, 250), (461, 251)],
     [(61, "voltage_abnormal", "raise", 0), (200, "voltage_abnormal", "clear", 0),
      (461, "voltage_abnormal", "raise", 400)]),
    ("low battery has no hold: raises at once", "smoke", {}, "battery_pct",
     [(0, 50), (10, 19)], [(10, "low_battery", "raise", 10)]),
    ("water pressure low held 30 s", "water_pressure", {}, "pressure_mpa",
     [(0, 0.12), (10, 0.08), (30, 0.08), (40, 0.08)],
     [(40, "water_pressure_low", "raise", 10)]),
    ("pressure low threshold override", "water_pressure", {"pressure_low_mpa": 0.07},
     "pressure_mpa", [(0, 0.08), (40, 0.08)], []),
]


def run(device_type: str, settings: dict[str, float], metric: str,
        series: list[tuple[float, float]]) -> list[Any]:
    device = record("d1", device_type, **settings)
    engine = DetectionEngine(Registry([device]), DetectionConfig(clear_hold_ms=CLEAR_HOLD_S * 1000))
    alarms = []
    for t, v in series:
        alarms += engine.process([telemetry(device, t, {metric: v})])
    return alarms


@pytest.mark.parametrize(("case", "device_type", "settings", "metric", "series", "expected"),
                         CASES, ids=[c[0] for c in CASES])
def test_threshold_table(case: str, device_type: str, settings: dict[str, float], metric: str,
                         series: list[tuple[float, float]],
                         expected: list[tuple[float, str, str, float]]) -> None:
    alarms = run(device_type, settings, metric, series)
    got = [((a.ts_ms - T0) / 1000, a.kind.value, a.state.value) for a in alarms]
    assert got == [(t, k, s) for t, k, s, _ in expected]
    for alarm, (_, kind, _, onset) in zip(alarms, expected, strict=True):
        assert alarm.alarm_id == alarm_id_for("d1", kind, T0 + round(onset * 1000))
        assert alarm.evidence["window"]["start_ms"] == T0 + round(onset * 1000)


def test_flapping_signal_gives_one_alarm_with_a_refire_count() -> None:
    series = [(0.0, 350.0), (6.0, 350.0)]
    for k in range(10):  # crosses back and forth every 10 s, well inside the clear hold-off
        series += [(10.0 + 20 * k, 100.0), (20.0 + 20 * k, 400.0)]
    series += [(300.0, 100.0), (500.0, 100.0)]
    alarms = run("electrical", {}, "residual_ma", series)
    assert [a.state for a in alarms] == [AlarmState.RAISE, AlarmState.CLEAR]
    raised, cleared = alarms
    assert raised.alarm_id == cleared.alarm_id
    assert cleared.evidence["refires"] == 10
    assert cleared.evidence["peak"] == 400.0
    assert raised.evidence["threshold"] == 300.0 and raised.evidence["hold_ms"] == 5000


def test_episodes_further_apart_than_the_hold_off_are_separate_alarms() -> None:
    series = [(0.0, 350.0), (6.0, 350.0), (10.0, 100.0), (200.0, 100.0), (300.0, 400.0),
              (306.0, 400.0)]
    alarms = run("electrical", {}, "residual_ma", series)
    assert [(a.kind, a.state) for a in alarms] == [
        (AlarmKind.ELECTRICAL_LEAKAGE, AlarmState.RAISE),
        (AlarmKind.ELECTRICAL_LEAKAGE, AlarmState.CLEAR),
        (AlarmKind.ELECTRICAL_LEAKAGE, AlarmState.RAISE)]
    assert alarms[0].alarm_id != alarms[2].alarm_id


def test_a_message_older_than_the_latest_does_not_rewind_state() -> None:
    device = record("d1", "electrical")
    engine = DetectionEngine(Registry([device]))
    assert engine.process([telemetry(device, 10, {"residual_ma": 350})]) == []
    # A late message from before the breach started must not reset the pending window.
    assert engine.process([telemetry(device, 2, {"residual_ma": 100})]) == []
    alarms = engine.process([telemetry(device, 16, {"residual_ma": 350})])
    assert [a.kind for a in alarms] == [AlarmKind.ELECTRICAL_LEAKAGE]


def test_message_without_the_metric_leaves_its_rule_alone() -> None:
    device = record("d1", "electrical")
    engine = DetectionEngine(Registry([device]))
    engine.process([telemetry(device, 0, {"residual_ma": 350})])
    engine.process([telemetry(device, 3, {"voltage_v": 220})])
    alarms = engine.process([telemetry(device, 6, {"residual_ma": 350})])
    assert [a.kind for a in alarms] == [AlarmKind.ELECTRICAL_LEAKAGE]
