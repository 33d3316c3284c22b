"""E-bike charging from the load signature, against household appliances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import T0, record, run_stream, telemetry

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection import DetectionEngine

MINUTE = 60.0
HOUR = 3600.0


LOCAL = -8 * HOUR  # t = 0 is local midnight (UTC+8), T0 being 08:00 local


def household(rng: np.random.Generator, hours: float, extra) -> list[tuple[float, float]]:
    """Base load 150 W, a fridge cycling 120 W (20 min on, 40 min off), cooking at 18:00, plus
    ``extra(t)`` watts; one reading a minute; ``t`` in seconds after local midnight."""
    series = []
    for t in np.arange(0, hours * HOUR, MINUTE):
        fridge = 120.0 if (t % (60 * MINUTE)) < 20 * MINUTE else 0.0
        cooking = 1800.0 if 18 * HOUR <= t % (24 * HOUR) < 18.5 * HOUR else 0.0
        series.append((t, 150 + fridge + cooking + extra(t) + float(rng.normal(0, 8))))
    return series


def charger(start: float, cc_hours: float = 3.0, cv_hours: float = 1.5, watts: float = 250.0):
    def power(t: float) -> float:
        if t < start or t >= start + (cc_hours + cv_hours) * HOUR:
            return 0.0
        if t < start + cc_hours * HOUR:
            return watts
        fraction = (t - start - cc_hours * HOUR) / (cv_hours * HOUR)
        return watts * (1 - fraction) ** 1.5  # constant voltage: current tapers away
    return power


CASES = {
    "night": charger(22.5 * HOUR),
    "small": charger(10 * HOUR, watts=110.0),
    "large": charger(1 * HOUR, watts=390.0),
    "nothing": lambda t: 0.0,
    "television": lambda t: 140.0 if 19 * HOUR <= t < 23 * HOUR else 0.0,
    "heater": lambda t: 1500.0 if 2 * HOUR <= t < 6 * HOUR else 0.0,
    "evening_tv_then_night": lambda t: 140.0 if 19 * HOUR <= t < 23.5 * HOUR else 0.0,
    # The second night: air-conditioning (700 W, swinging) hides the charger's step at 23:30;
    # at the latest once it stops at 02:00 the circuit's floor stands 250 W above the day's.
    "hidden": lambda t: charger(23.5 * HOUR, watts=250.0)(t) + (
        700.0 + 90.0 * math.sin(t / 300.0) if 23 * HOUR <= t < 26 * HOUR else 0.0),
    # A 300 W load held two hours in the afternoon, then switched off: no taper, no night.
    # (The same at 01:00 would be taken for a charger: the night rule trades that for speed.)
    "steps_off": lambda t: 300.0 if 13 * HOUR <= t < 15 * HOUR else 0.0,
}


@pytest.fixture(scope="module")
def alarms_by_case() -> dict[str, list[Alarm]]:
    """One engine, one circuit per case, fed together (each case's stream is independent)."""
    devices = {case: record(case, "electrical") for case in CASES}
    engine = DetectionEngine(Registry(devices.values()))
    rng = np.random.default_rng(5)
    messages = [telemetry(devices[case], t + LOCAL, {"power_w": p})
                for case, extra in CASES.items() for t, p in household(rng, 30, extra)]
    messages.sort(key=lambda m: m.ts_ms)
    found: dict[str, list[Alarm]] = {case: [] for case in CASES}
    for alarm in run_stream(engine, messages, 5000):
        if alarm.kind is AlarmKind.EBIKE_CHARGING:
            found[alarm.device_id].append(alarm)
    return found


def test_night_charge_with_cc_then_cv_is_recognised_once_and_clears(
        alarms_by_case: dict[str, list[Alarm]]) -> None:
    start = 22.5 * HOUR
    alarms = alarms_by_case["night"]
    assert [a.state for a in alarms] == [AlarmState.RAISE, AlarmState.CLEAR]
    raised = alarms[0]
    assert raised.evidence["window"]["start_ms"] == T0 + (start + LOCAL) * 1000
    assert 200 <= raised.evidence["step_w"] <= 300
    at_s = (raised.ts_ms - T0) / 1000 - LOCAL
    assert start + 1 * HOUR <= at_s <= start + 1.1 * HOUR  # at night: the held plateau


def test_a_daytime_charge_is_recognised_by_its_taper(
        alarms_by_case: dict[str, list[Alarm]]) -> None:
    (raised, _) = alarms_by_case["small"]
    at_s = (raised.ts_ms - T0) / 1000 - LOCAL
    assert 10 * HOUR + 3 * HOUR < at_s <= 10 * HOUR + 3.5 * HOUR


@pytest.mark.parametrize("case", ["small", "large"])
def test_small_and_large_chargers_within_the_band(
        case: str, alarms_by_case: dict[str, list[Alarm]]) -> None:
    assert [a.state for a in alarms_by_case[case]] == [AlarmState.RAISE, AlarmState.CLEAR]


def test_a_charge_hidden_by_an_appliance_shows_in_the_circuits_floor(
        alarms_by_case: dict[str, list[Alarm]]) -> None:
    raised = alarms_by_case["hidden"][0]
    assert raised.state is AlarmState.RAISE
    at_s = (raised.ts_ms - T0) / 1000 - LOCAL
    assert 23.5 * HOUR < at_s <= 26.6 * HOUR


@pytest.mark.parametrize("case", ["nothing", "television", "heater", "steps_off",
                                  "evening_tv_then_night"])
def test_appliances_are_not_chargers(case: str, alarms_by_case: dict[str, list[Alarm]]) -> None:
    assert alarms_by_case[case] == []
