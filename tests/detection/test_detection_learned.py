"""Learned rules on synthetic signals: daily baseline, flatline, plausible range, riser drift,
the thermal model of a cable."""

from __future__ import annotations

import math

import numpy as np
from detection_support import T0, record, run_stream, telemetry

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine
from gongzhi.gateway.detection.baseline import BaselineDetector

MINUTE = 60.0
DAY = 86_400.0


def rule_alarms(alarms: list[Alarm], rule: str) -> list[Alarm]:
    return [a for a in alarms if a.evidence.get("rule") == rule]


def pressure(t: float, rng: np.random.Generator) -> float:
    """A riser: 0.32 MPa at night, drawn down by 0.06 MPa in the morning and evening peaks."""
    hour = (t / 3600) % 24
    draw = 0.06 * (math.exp(-((hour - 7.5) ** 2) / 2) + math.exp(-((hour - 19.5) ** 2) / 2))
    return 0.32 - draw + float(rng.normal(0, 0.003))


def test_daily_cycle_is_learned_and_a_slow_decline_is_caught_before_the_threshold() -> None:
    rng = np.random.default_rng(1)
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    three_days = [telemetry(device, t, {"pressure_mpa": pressure(t, rng)})
                  for t in np.arange(0, 3 * DAY, MINUTE)]
    assert run_stream(engine, three_days) == []
    # Day four from 01:00: the pump fails, pressure falls by 0.02 MPa an hour.
    start = 3 * DAY + 3600
    failing = [telemetry(device, t, {"pressure_mpa": pressure(t, rng) - 0.02 * (t - start) / 3600})
               for t in np.arange(3 * DAY, 3 * DAY + 16 * 3600, MINUTE)]
    alarms = run_stream(engine, failing)
    baseline = rule_alarms(alarms, "baseline")
    assert baseline and baseline[0].kind is AlarmKind.WATER_PRESSURE_LOW
    first = baseline[0]
    assert first.evidence["value"] > 0.10  # long before the fixed low-pressure threshold
    assert first.evidence["baseline"] - first.evidence["value"] >= 0.05
    assert (first.ts_ms - T0) / 1000 - start < 5 * 3600
    # When the fixed threshold trips later, it folds into the open alarm: one alarm, not two.
    assert [a.evidence["rule"] for a in alarms if a.state is AlarmState.RAISE] == ["baseline"]


def test_stuck_sensor_and_a_live_one() -> None:
    rng = np.random.default_rng(2)
    live, stuck = record("p1", "water_pressure"), record("p2", "water_pressure")
    engine = DetectionEngine(Registry([live, stuck]))
    messages = []
    for t in np.arange(0, 2 * DAY, MINUTE):
        messages.append(telemetry(live, t, {"pressure_mpa": pressure(t, rng)}))
        value = pressure(t, rng) if t < DAY else 0.287
        messages.append(telemetry(stuck, t, {"pressure_mpa": value}))
    alarms = [a for a in run_stream(engine, messages) if a.kind is AlarmKind.SENSOR_FAULT]
    assert [(a.device_id, a.evidence["fault"], a.state) for a in alarms] == [
        ("p2", "stuck", AlarmState.RAISE)]
    delay_s = (alarms[0].ts_ms - T0) / 1000 - DAY
    assert 30 * MINUTE <= delay_s <= 75 * MINUTE


def test_reading_outside_the_installed_band_is_a_sensor_fault() -> None:
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    messages = [telemetry(device, t, {"pressure_mpa": 0.3 if t < 100 else -0.05})
                for t in range(0, 300, 10)]
    faults = [a for a in run_stream(engine, messages) if a.kind is AlarmKind.SENSOR_FAULT]
    assert [(a.evidence["fault"], (a.ts_ms - T0) / 1000) for a in faults] == [
        ("out_of_range", 160.0)]


def test_drift_against_riser_neighbours_flags_only_the_drifting_sensor() -> None:
    rng = np.random.default_rng(3)
    heads = {"r1": 0.0, "r2": -0.03, "r3": -0.06, "r4": -0.09}  # floors up the riser
    devices = [record(f"p-{k}", "water_pressure", riser="R1", floor=k[1]) for k in heads]
    engine = DetectionEngine(Registry(devices))
    messages = []
    for t in np.arange(0, 3 * DAY, 5 * MINUTE):
        common = pressure(t, rng)
        burst = -0.2 if 2 * DAY <= t < 2 * DAY + 1800 else 0.0  # a real event: all see it
        for device, (k, head) in zip(devices, heads.items(), strict=True):
            drift = 0.01 * max(0.0, t - 2.5 * DAY) / 3600 if k == "r3" else 0.0
            value = common + head + burst + drift + float(rng.normal(0, 0.002))
            messages.append(telemetry(device, t, {"pressure_mpa": value}))
    alarms = [a for a in run_stream(engine, messages) if a.evidence.get("fault") == "drift"]
    assert [(a.device_id, a.state) for a in alarms] == [("p-r3", AlarmState.RAISE)]
    assert alarms[0].evidence["wander"] >= 0.05 and alarms[0].evidence["neighbours"] == 3


def thermal_series(device, days: float, rng: np.random.Generator, fault_from: float | None
                   ) -> list:
    messages, temp, tau = [], 28.0, 900.0
    for t in np.arange(0, days * DAY, 2 * MINUTE):
        hour = (t / 3600) % 24
        current = 4 + 14 * max(0.0, math.sin(math.pi * (hour - 6) / 16)) + rng.normal(0, 0.5)
        ambient = 26 + 2 * math.sin(2 * math.pi * hour / 24)
        target = ambient + 0.06 * current ** 2
        temp += (target - temp) * (1 - math.exp(-2 * MINUTE / tau))
        extra = 18.0 if fault_from is not None and t >= fault_from else 0.0
        messages.append(telemetry(device, t, {"current_a": max(current, 0.0),
                                              "cable_temp_c": temp + extra + rng.normal(0, 0.3),
                                              "voltage_v": 220 + rng.normal(0, 1)}))
    return messages


def test_cable_hotter_than_its_load_explains_is_caught_below_the_fixed_threshold() -> None:
    rng = np.random.default_rng(4)
    healthy, loose = record("e1", "electrical"), record("e2", "electrical")
    engine = DetectionEngine(Registry([healthy, loose]))
    fault_at = 3 * DAY + 2 * 3600  # 02:00, light load
    messages = thermal_series(healthy, 4, rng, None) + thermal_series(loose, 4, rng, fault_at)
    messages.sort(key=lambda m: m.ts_ms)
    alarms = [a for a in run_stream(engine, messages, 2000) if a.state is AlarmState.RAISE]
    assert [(a.device_id, a.kind, a.evidence["rule"]) for a in alarms] == [
        ("e2", AlarmKind.CABLE_OVERHEAT, "multivariate")]
    assert alarms[0].evidence["value"] < 70.0
    assert (alarms[0].ts_ms - T0) / 1000 - fault_at <= 20 * MINUTE


def test_the_daily_baseline_remembers_about_three_days_of_each_hour() -> None:
    """A sensor reporting every 20 s, steady for three days, then 0.02 MPa higher (too little to
    alarm) for a day: each hour's level has moved less than 1 - exp(-1/3) of the step (three
    days of memory per hour of the day, the steps outlier-clipped), not half of it or more."""
    device = record("p1", "water_pressure")
    engine = DetectionEngine(Registry([device]))
    rng = np.random.default_rng(3)
    stream = [telemetry(device, t, {"pressure_mpa": 0.30 + (0.02 if t >= 3 * DAY else 0.0)
                                    + float(rng.normal(0, 0.002))})
              for t in np.arange(0, 4 * DAY, 20.0)]
    assert run_stream(engine, stream, batch=5000) == []
    [baseline] = [r for r in engine._groups[device.type].rules if isinstance(r, BaselineDetector)]
    moved = (baseline.level[0] - 0.30) / 0.02
    assert 0.1 < float(moved.mean()) < 0.3
