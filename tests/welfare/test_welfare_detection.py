"""Passive care in the gateway's detection: simulated elderly households (development seeds)
learn their rhythm; a fall is found when the household's own model says, not before; a power
cut, an offline monitor and a leak are not signs of life or silence; the water meter's leak
rules. Time is the reports' device time throughout."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import Registry
from gongzhi.evaluation.welfare_sim import (
    LEARN_DAYS,
    START_MS,
    household_records,
    household_series,
    new_watch,
    telemetry_rows,
    watch_alarms,
)
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.detection.rhythm import RhythmSettings
from gongzhi.gateway.detection.welfare import household_key
from gongzhi.gateway.messages import Telemetry
from gongzhi.simulators.living import (
    DAY_MS,
    DEVELOPMENT_SEEDS,
    HOUR_MS,
    MINUTE_MS,
    REPORT_SEEDS,
    Fault,
    Living,
    simulate,
)

SEVEN = 7 * HOUR_MS


def raises(alarms: list[Alarm]) -> list[Alarm]:
    return [a for a in alarms if a.state is AlarmState.RAISE]


def late_riser(days: int, fall_day: int) -> tuple[int, int]:
    """A development seed whose person is still asleep at 07:00 on ``fall_day`` (a Monday at
    ``LEARN_DAYS``), and that 07:00."""
    fall = START_MS + fall_day * DAY_MS + SEVEN
    for seed in DEVELOPMENT_SEEDS:
        if simulate(seed, START_MS, days).wake_ms[fall_day] > fall + 20 * MINUTE_MS:
            return seed, fall
    raise AssertionError("no development seed sleeps past 07:00")


def test_seeds_for_development_and_for_reports_are_apart() -> None:
    assert not set(DEVELOPMENT_SEEDS) & set(REPORT_SEEDS)


def test_a_fall_at_seven_is_raised_when_the_model_expects_a_sign_and_not_before() -> None:
    seed, fall = late_riser(LEARN_DAYS + 1, LEARN_DAYS)
    living = simulate(seed, START_MS, LEARN_DAYS + 1, faults=(Fault("no_activity", fall),))
    registry = Registry(household_records("h1", water=False))
    rows = telemetry_rows(registry, household_series("h1", living, water=False))
    watch = new_watch(registry)
    # The day begins at 04:00; its first report has the model learn the day before.
    day_start = START_MS + LEARN_DAYS * DAY_MS + 4 * HOUR_MS + MINUTE_MS
    before = watch.observe([r for r in rows if r.ts_ms < day_start])
    assert raises(before) == []  # learned 28 days of this person without a false alarm
    model = watch.expectation(household_key(registry.get("h1-em")))  # type: ignore[arg-type]
    assert model is not None and model.kind == "weekday" and model.days >= 21
    expected_by = START_MS + LEARN_DAYS * DAY_MS + int(model.first_by * MINUTE_MS)
    assert expected_by > fall  # this person usually gets up later than 07:00

    alarms = watch.observe([r for r in rows if r.ts_ms >= day_start])
    [alarm] = raises(alarms)
    assert alarm.kind is AlarmKind.WELFARE_CHECK and alarm.device_id == "h1-em"
    assert expected_by <= alarm.ts_ms < expected_by + MINUTE_MS  # the first report after it
    evidence = alarm.evidence
    assert evidence["rule"] == "first_activity"
    assert evidence["expected_by_ms"] == expected_by
    assert evidence["last_activity_at_ms"] < fall
    assert evidence["model"]["day_kind"] == "weekday"
    assert evidence["model"]["first_activity_expected_by"] == evidence["expected_by"][-5:]


def test_the_engine_runs_the_rule_for_opted_in_households_only() -> None:
    days = 5
    seed, fall = late_riser(days, days - 1)
    living = simulate(seed, START_MS, days, faults=(Fault("no_activity", fall),))
    # A monitor reporting every 5 min keeps the whole engine's run short.
    every = np.arange(0, living.ts.size, 5)
    living = Living(living.ts[every], living.power_w[every], living.voltage_v[every],
                    living.water_ts, living.water_m3)
    flagged = [replace(r, settings={"report_interval_s": 300.0})
               for r in household_records("old", water=False)]
    young = [replace(r, device_id="young-em", household="young", elderly_alone=False)
             for r in flagged]
    registry = Registry([*flagged, *young])
    series = [*household_series("old", living, water=False),
              DeviceSeries("young-em", living.ts, {"power_w": living.power_w})]
    config = replace(DetectionConfig(), welfare=RhythmSettings(min_days=3))
    engine = DetectionEngine(registry, config)
    rows = telemetry_rows(registry, series)
    found: list[Alarm] = []
    for minute in range(0, len(rows), 2):  # one batch per report minute (two devices)
        found += engine.process(rows[minute:minute + 2])
    welfare = [a for a in found if a.kind is AlarmKind.WELFARE_CHECK]
    assert {a.device_id for a in welfare} == {"old-em"}  # the young household is not watched
    assert raises(welfare)[-1].ts_ms > fall
    assert raises(welfare)[-1].evidence["rule"] == "first_activity"


def _welfare(fault: Fault | None, drop: tuple[int, int] | None = None,
             days: int = LEARN_DAYS + 1) -> list[Alarm]:
    """A late riser's welfare alarms (raises and clears) over ``days``, power only."""
    seed, _ = late_riser(LEARN_DAYS + 1, LEARN_DAYS)
    living = simulate(seed, START_MS, days, faults=() if fault is None else (fault,))
    if drop is not None:
        keep = (living.ts < drop[0]) | (living.ts >= drop[1])
        living = Living(living.ts[keep], living.power_w[keep], living.voltage_v[keep],
                        living.water_ts, living.water_m3)
    registry = Registry(household_records("h1", water=False))
    return watch_alarms(registry, household_series("h1", living, water=False))


def _day_alarms(fault: Fault | None, drop: tuple[int, int] | None = None) -> list[Alarm]:
    return raises(_welfare(fault, drop))


def test_a_power_cut_is_not_silence() -> None:
    day = START_MS + LEARN_DAYS * DAY_MS
    assert _day_alarms(Fault("power_cut", day + 5 * HOUR_MS, day + 13 * HOUR_MS)) == []


def test_an_offline_monitor_is_not_silence() -> None:
    day = START_MS + LEARN_DAYS * DAY_MS
    assert _day_alarms(None, drop=(day + 5 * HOUR_MS, day + 13 * HOUR_MS)) == []


def test_an_undeclared_silence_of_three_days_is_one_alarm_cleared_on_return() -> None:
    """One silence, one alarm: raised on its first day (the gateway cannot know of a trip; the
    platform holds what a declared one covers), active through the next two days without being
    raised again, cleared by the first sign of life after the return."""
    day = START_MS + LEARN_DAYS * DAY_MS
    back = day + 3 * DAY_MS + 9 * HOUR_MS
    found = _welfare(Fault("away", day, back), days=LEARN_DAYS + 5)
    [raised] = raises(found)
    [cleared] = [a for a in found if a.state is AlarmState.CLEAR]
    assert raised.evidence["rule"] == "first_activity"
    assert day < raised.ts_ms < day + DAY_MS
    assert cleared.alarm_id == raised.alarm_id and found.index(cleared) > found.index(raised)
    assert back <= cleared.evidence["sign_of_life_at_ms"] == cleared.ts_ms < back + 6 * HOUR_MS
    assert cleared.evidence["active_h"] == round((cleared.ts_ms - raised.ts_ms) / HOUR_MS, 2)
    assert "still_silent" not in cleared.evidence


def test_a_silence_outlasting_a_declared_trip_keeps_its_alarm_active() -> None:
    """A trip declared for two days (the platform holds the alarm raised inside it); nobody is
    back when it ends: the alarm stays active past the trip's end, never cleared, so the
    silence still stands when the trip's end passes. A silence is never raised twice."""
    day = START_MS + LEARN_DAYS * DAY_MS
    declared_end = day + 2 * DAY_MS
    found = _welfare(Fault("no_activity", day), days=LEARN_DAYS + 4)
    [raised] = raises(found)
    assert raised.ts_ms < declared_end
    assert [a for a in found if a.state is AlarmState.CLEAR] == []


def _meter(readings: list[tuple[int, float]]) -> list[Alarm]:
    registry = Registry(household_records("w1")[1:])  # the water meter alone
    engine = DetectionEngine(registry)
    found: list[Alarm] = []
    for ts, m3 in readings:
        found += engine.process([Telemetry("w1-wm", "sim", DeviceType.WATER_METER, ts,
                                           {"water_m3": m3}, ts)])
    return [a for a in found if a.kind is AlarmKind.WATER_LEAK]


def test_a_running_cistern_is_a_leak_after_three_hours() -> None:
    quarter = 15 * MINUTE_MS
    readings = [(START_MS + i * quarter, 100.0 + 0.005 * i) for i in range(24)]  # 20 L/h
    found = _meter(readings)
    [raised] = raises(found)
    assert raised.evidence["rule"] == "continuous_flow"
    assert raised.ts_ms == START_MS + 13 * quarter  # flowing since the 2nd report: 3 h later
    pause = [(START_MS + i * quarter, 100.0 + 0.005 * min(i, 5)) for i in range(24)]
    assert raises(_meter(pause)) == []  # it stopped before 3 h


def test_a_day_over_its_volume_is_a_leak() -> None:
    quarter = 15 * MINUTE_MS
    levels = [100.0, 100.4, 100.4, 100.8, 100.8, 101.2, 101.2, 101.2]  # 0.4 m³ draws, pauses
    found = _meter([(START_MS + i * quarter, m3) for i, m3 in enumerate(levels)])
    assert [a.evidence["rule"] for a in raises(found)] == ["daily_volume"]
    assert raises(found)[0].ts_ms == START_MS + 5 * quarter  # 1.2 m³ within 24 h


@pytest.mark.parametrize("water", [True, False])
def test_a_leak_is_no_sign_of_life(water: bool) -> None:
    seed, fall = late_riser(LEARN_DAYS + 1, LEARN_DAYS)
    leak = Fault("water_leak", fall - 2 * HOUR_MS, litres_per_hour=30.0)
    # The leak's start is one sign (at 05:00): with everything off after it, the silence looks
    # like a departure and is raised the next morning; two days keep that in view.
    living = simulate(seed, START_MS, LEARN_DAYS + 2,
                      faults=(Fault("no_activity", fall), leak))
    registry = Registry(household_records("h1", water=water))
    found = raises(watch_alarms(registry, household_series("h1", living, water=water)))
    assert found and found[0].ts_ms > fall
    assert np.all(np.diff(living.water_m3[-10:]) > 0)  # the meter kept turning


def _silent_from_ten(light_on: bool) -> tuple[list[Alarm], int, RhythmSettings]:
    """A person who falls at 10:00 on the day after ``LEARN_DAYS``, leaving a light on or
    everything off (the simulator's draw for the seed, and nothing on when out), watched by
    power alone for two more days."""
    silent = START_MS + LEARN_DAYS * DAY_MS + 10 * HOUR_MS
    living = next(lived for s in DEVELOPMENT_SEEDS
                  if (lived := simulate(s, START_MS, LEARN_DAYS + 2,
                                        faults=(Fault("no_activity", silent),))).left_on
                  is light_on)
    registry = Registry(household_records("h1", water=False))
    return (raises(watch_alarms(registry, household_series("h1", living, water=False))),
            silent, RhythmSettings())


def test_a_silence_with_a_light_left_on_is_raised_by_the_usual_rules() -> None:
    """Raised when the household's rules expect a sign (the same day, by its longest silence
    left on or while up, or the next morning when these would run into the night), not
    later."""
    found, silent, _ = _silent_from_ten(light_on=True)
    first = found[0]
    assert first.evidence["left_on"] is True
    assert first.evidence["looked_like_departure"] is False
    assert first.evidence["lowest_power_w"] > first.evidence["model"]["standby_floor_w"] + 100
    assert first.evidence["expected_by_ms"] <= first.ts_ms < first.evidence["expected_by_ms"] \
        + 2 * MINUTE_MS
    assert silent < first.ts_ms < silent + 30 * HOUR_MS


def test_a_day_time_silence_with_everything_off_waits_for_the_next_morning() -> None:
    """Like a departure, but a fall with everything off must still be found: the next morning,
    at its expected first sign plus the away margin."""
    found, silent, settings = _silent_from_ten(light_on=False)
    first = found[0]
    assert first.evidence["left_on"] is False and first.evidence["looked_like_departure"]
    assert first.evidence["lowest_power_w"] <= first.evidence["model"]["standby_floor_w"] + 40
    next_day = START_MS + (LEARN_DAYS + 1) * DAY_MS
    expected_by = first.evidence["expected_by_ms"]
    assert next_day < expected_by < first.ts_ms
    away = int(settings.away_margin_min * MINUTE_MS)
    assert expected_by + away <= first.ts_ms < expected_by + away + 2 * MINUTE_MS
    assert silent + 18 * HOUR_MS < first.ts_ms < silent + 36 * HOUR_MS
