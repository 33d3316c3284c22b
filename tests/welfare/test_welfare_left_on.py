"""A silence while up with something left on (a light, the television) has its own limit: the
household's longest such silence plus a margin (``RhythmSettings.on_gap_*``). A person who
falls leaves on what was on; a household going out switches things off, and its all-off
silences keep the usual rules. Households of a made-up day (fast, exact) and simulated ones
(development seeds)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.registry import Registry
from gongzhi.evaluation import welfare_sim as sim
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.gateway.detection.rhythm import DayRecord, Rhythm, RhythmSettings
from gongzhi.simulators.living import (
    DAY_MS,
    DEVELOPMENT_SEEDS,
    HOUR_MS,
    MINUTE_MS,
    Fault,
    leaves_light_on,
    simulate,
)

BASE_W = 80.0
LIGHT_W = 200.0
KETTLE_W = 2000.0
DAYS = sim.LEARN_DAYS + 2
SETTINGS = RhythmSettings()


def _minute(hour: float) -> int:
    return int(hour * 60)


def made_up(last_day: Callable[[np.ndarray, int], None], *, out_light: bool = False,
            fell: bool = False) -> list[Alarm]:
    """A household's days, local time (sim.START_MS is a local midnight): the kettle at 07:00, a
    light 07:00-08:00; out 09:00-17:00 (everything off, or a light left on with
    ``out_light``); the kettle at 17:00, 18:00 and 21:00 with a light 17:00-21:00. Its longest
    silence left on is 3 h (18:03-21:00); its longest silence while up 8 h 57 min. Day
    ``LEARN_DAYS`` is ``last_day``'s (given the day's power and its first minute); after it
    the days go on as before, or nothing more happens if the person ``fell``."""
    n = DAYS * 1440
    power = np.full(n, BASE_W)

    def kettle(i: int) -> None:
        power[i:i + 3] += KETTLE_W

    for day in range(DAYS):
        at = day * 1440
        if day == sim.LEARN_DAYS:
            last_day(power, at)
        if day == sim.LEARN_DAYS or (fell and day > sim.LEARN_DAYS):
            continue
        kettle(at + _minute(7))
        power[at + _minute(7):at + _minute(8)] += LIGHT_W
        if out_light:
            power[at + _minute(9):at + _minute(17)] += LIGHT_W
            kettle(at + _minute(9))  # the light on as they leave
        for hour in (17, 18, 21):
            kettle(at + _minute(hour))
        power[at + _minute(17):at + _minute(21)] += LIGHT_W
    ts = sim.START_MS + np.arange(n, dtype=np.int64) * MINUTE_MS
    registry = Registry(sim.household_records("h1", water=False))
    series = DeviceSeries("h1-em", ts, {"power_w": power, "voltage_v": np.full(n, 220.0)})
    return [a for a in sim.new_watch(registry).observe(sim.telemetry_rows(registry, [series]))
            if a.state is AlarmState.RAISE]


def fall_at_seven(light_on: bool) -> Callable[[np.ndarray, int], None]:
    def day(power: np.ndarray, at: int) -> None:
        power[at + _minute(7):at + _minute(7) + 3] += KETTLE_W
        if light_on:
            power[at + _minute(7):] += LIGHT_W  # on to the end: nobody switches it off
    return day


def clock(ts: int) -> float:
    """Hours after the local midnight of day ``LEARN_DAYS``."""
    return (ts - sim.START_MS - sim.LEARN_DAYS * DAY_MS) / HOUR_MS


def test_a_fall_with_a_light_on_is_raised_at_the_households_left_on_limit() -> None:
    """Its longest silence left on is 3 h: raised 3 h + the margin after the last sign, not at
    its longest silence while up (8 h 57 min + 2 h, which the old rule waited for)."""
    found = made_up(fall_at_seven(light_on=True), fell=True)
    first = found[0]
    assert first.evidence["rule"] == "left_on_silence"
    assert first.evidence["left_on"] is True and not first.evidence["looked_like_departure"]
    limit_h = (3 * 60 + SETTINGS.on_gap_margin_min) / 60
    assert first.evidence["model"]["longest_left_on_silence_allowed_h"] == round(limit_h, 1)
    assert first.evidence["model"]["longest_silence_allowed_h"] > 10.9
    last_sign_h = 7 + 3 / 60  # the kettle off
    assert abs(clock(first.ts_ms) - (last_sign_h + limit_h)) < 2 / 60
    assert all(clock(a.ts_ms) > 0 for a in found)  # nothing before the fall


def test_the_same_fall_with_everything_off_waits_as_a_departure() -> None:
    """All off since 07:03: what going out looks like; the left-on limit does not apply and
    the silence is raised the next morning."""
    found = made_up(fall_at_seven(light_on=False), fell=True)
    first = found[0]
    assert first.evidence["rule"] != "left_on_silence"
    assert first.evidence["left_on"] is False and first.evidence["looked_like_departure"]
    assert clock(first.ts_ms) > 24


def test_a_day_out_with_everything_off_longer_than_the_left_on_limit_raises_nothing() -> None:
    """Out 08:00-19:00 (11 h, past its left-on limit of 8 h, everything off), back for the
    evening."""
    def day(power: np.ndarray, at: int) -> None:
        for hour in (7, 19, 21):
            power[at + _minute(hour):at + _minute(hour) + 3] += KETTLE_W
        power[at + _minute(7):at + _minute(7.5)] += LIGHT_W
        power[at + _minute(19):at + _minute(21)] += LIGHT_W

    assert made_up(day) == []


def test_a_household_that_goes_out_with_a_light_on_has_a_longer_limit() -> None:
    """Its silences left on are its 8 h outings: a 9 h one is within its limit (13 h)."""
    def day(power: np.ndarray, at: int) -> None:
        for hour in (7, 9, 18, 21):
            power[at + _minute(hour):at + _minute(hour) + 3] += KETTLE_W
        power[at + _minute(9):at + _minute(21)] += LIGHT_W

    assert made_up(day, out_light=True) == []


def test_left_on_silences_are_learned_only_with_a_floor_known() -> None:
    """Days learned before the field existed (None) teach nothing of it: no limit until half
    ``min_days`` days with one are learned."""
    rhythm = Rhythm(SETTINGS)
    for day in range(SETTINGS.min_days):
        rhythm.learn(DayRecord(day, False, 420.0, 1260.0, 300.0, None, 80.0,
                               longest_on_gap_min=None if day < 12 else 60.0 * (day % 3)))
    assert rhythm.floor_w() == 80.0
    expect = rhythm.expect(False)
    assert expect is not None and expect.on_gap_limit is None
    rhythm.learn(DayRecord(SETTINGS.min_days, False, 420.0, 1260.0, 300.0, None, 80.0, 90.0))
    expect = rhythm.expect(False)
    assert expect is not None
    assert expect.on_gap_limit == max(SETTINGS.on_gap_min_min, 120.0 + SETTINGS.on_gap_margin_min)


def _simulated_fall(at_h: float) -> tuple[list[Alarm], int]:
    """The first development seed whose person is up and at home at ``at_h`` on day
    ``LEARN_DAYS`` and, falling then, leaves a light on."""
    for seed in DEVELOPMENT_SEEDS:
        fall = sim.START_MS + sim.LEARN_DAYS * DAY_MS + int(at_h * HOUR_MS)
        living = simulate(seed, sim.START_MS, DAYS, faults=(Fault("no_activity", fall),))
        if living.left_on and living.wake_ms[sim.LEARN_DAYS] < fall - HOUR_MS:
            registry = Registry(sim.household_records("h1", water=False))
            alarms = sim.watch_alarms(registry, sim.household_series("h1", living, water=False))
            return [a for a in alarms if a.state is AlarmState.RAISE], fall
    raise AssertionError("no development seed leaves a light on")


def test_a_simulated_fall_in_the_morning_with_a_light_on_is_raised_within_hours() -> None:
    """At 10:00: found by the left-on rule the same afternoon, not by the longest silence
    while up (14.6 h with its margin) or the next morning."""
    found, fall = _simulated_fall(10.0)
    assert found and found[0].ts_ms >= fall
    first = found[0]
    assert first.evidence["rule"] == "left_on_silence" and first.evidence["left_on"] is True
    assert first.ts_ms - fall < 9 * HOUR_MS


def test_a_fall_while_out_leaves_nothing_on_at_home() -> None:
    """The simulator: a person who falls during the day's outing is not at home, and the light
    of their last use before going does not shine on from before the outing; the same person
    falling at home leaves one on (a seed whose draw says so)."""
    seed = next(s for s in DEVELOPMENT_SEEDS if leaves_light_on(s))
    start, end = simulate(seed, sim.START_MS, DAYS).outings[sim.LEARN_DAYS]
    assert end - start > HOUR_MS
    out = simulate(seed, sim.START_MS, DAYS, faults=(Fault("no_activity", (start + end) // 2),))
    assert not out.left_on
    during = out.power_w[(out.ts >= start) & (out.ts < end)]
    assert during.min() < out.power_w.min() + 40  # the base load and the fridge, nothing held on
    home = simulate(seed, sim.START_MS, DAYS, faults=(Fault("no_activity", end + HOUR_MS // 2),))
    assert home.left_on
    assert home.power_w[home.ts >= end + HOUR_MS].min() > out.power_w.min() + 150
