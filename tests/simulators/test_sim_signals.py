"""The physics of the signal models, checked on the models themselves (pure, fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_helpers import MIDNIGHT_CST, layout_of, max_drop_within

from gongzhi.devices.catalogue import DeviceType
from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import DAY_MS, local_hour, water_demand
from gongzhi.simulators.signals.electrical import (
    ElectricalModel,
    cable_temperature,
    charger_power_w,
)
from gongzhi.simulators.signals.noise import CounterNoise
from gongzhi.simulators.signals.smoke import SmokeModel
from gongzhi.simulators.signals.water import LEVEL_HIGH_M, LEVEL_LOW_M, WaterModel

MINUTE = 60_000


def _members(layout: EstateLayout, device_type: DeviceType) -> np.ndarray:
    return np.array([i for i, d in enumerate(layout.devices) if d.record.type is device_type])


def _water(layout: EstateLayout, seed: int = 0) -> tuple[WaterModel, np.ndarray]:
    members = _members(layout, DeviceType.WATER_PRESSURE)
    model = WaterModel(layout, members, np.random.default_rng(seed), MIDNIGHT_CST,
                       CounterNoise(seed))
    return model, members


def _day_of_water(model: WaterModel, members: np.ndarray, every_ms: int) -> np.ndarray:
    """Pressure of every water device every ``every_ms`` over one day: shape (samples, n)."""
    local = np.arange(len(members))
    rows = []
    for k, t in enumerate(range(MIDNIGHT_CST + every_ms, MIDNIGHT_CST + DAY_MS + 1, every_ms)):
        model.advance(t)
        ts = np.full(len(members), t, dtype=np.int64)
        rows.append(model.sample(local, ts, members, np.full(len(members), k), {})
                    ["pressure_mpa"])
    return np.array(rows)


# Water ---------------------------------------------------------------------------------------

def test_demand_curve_peaks_in_the_evening_and_bottoms_out_at_night() -> None:
    hours = np.arange(0, 24, 0.1)
    demand = water_demand(hours)
    assert 19.0 <= hours[np.argmax(demand)] <= 21.0
    assert 2.0 <= hours[np.argmin(demand)] <= 5.0
    morning = demand[(hours >= 6.5) & (hours < 8.5)].max()
    assert demand.max() > morning > 4 * demand.min()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_riser_pressure_is_lowest_in_the_evening_peak(seed: int) -> None:
    layout = layout_of("demo", seed)
    model, members = _water(layout, seed)
    pressure = _day_of_water(model, members, MINUTE)
    hours = np.arange(1, pressure.shape[0] + 1) / 60.0
    risers = [k for k, g in enumerate(members) if layout.devices[g].role is Role.RISER]
    assert len(risers) == 24
    for k in risers:
        hourly = np.array([pressure[(hours > h) & (hours <= h + 1), k].mean()
                           for h in range(24)])
        assert 18 <= int(np.argmin(hourly)) <= 21, hourly.round(3)
        # Static head from a roof tank over seven floors: about 0.2 MPa, never below the
        # 0.10 MPa alarm level in normal operation.
        assert 0.18 < hourly.max() < 0.28
        assert pressure[:, k].min() > 0.10


def test_roof_tanks_cycle_between_the_pump_marks() -> None:
    layout = layout_of("demo")
    model, _ = _water(layout)
    levels = []
    pumps = []
    for t in range(MIDNIGHT_CST, MIDNIGHT_CST + DAY_MS, 60_000):
        model.advance(t)
        levels.append(model.level_m.copy())
        pumps.append(model.pump_on.copy())
    level = np.array(levels)[:, model.has_tank]
    pump = np.array(pumps)[:, model.has_tank]
    assert level.min() > LEVEL_LOW_M - 0.05
    assert level.max() < LEVEL_HIGH_M + 0.05
    starts = (pump[1:] & ~pump[:-1]).sum(axis=0)
    assert (starts >= 3).all()  # several refills a day per tank


def test_normal_water_signals_raise_no_alarm() -> None:
    """No sudden drop (0.05 MPa within 60 s), no low or high pressure without a fault: the
    pump-room header ramps (variable-speed drive) rather than falling when pumps stop."""
    layout = layout_of("demo")
    model, members = _water(layout)
    pressure = _day_of_water(model, members, 10_000)
    ts = np.arange(1, pressure.shape[0] + 1) * 10_000
    for k, g in enumerate(members):
        role = layout.devices[g].role
        assert max_drop_within(ts, pressure[:, k], 60_000) < 0.045, role
        if role is not Role.ROOF_TANK:
            assert pressure[:, k].min() > 0.10 and pressure[:, k].max() < 1.0, role
    pump_room = [k for k, g in enumerate(members) if layout.devices[g].role is Role.PUMP_ROOM]
    swing = pressure[:, pump_room[0]].max() - pressure[:, pump_room[0]].min()
    assert swing > 0.05  # the pumps do start and stop


# Electrical ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("previous", "steady", "dt", "tau", "expected"), [
    (20.0, 60.0, 0.0, 600.0, 20.0),  # no time: no change
    (20.0, 60.0, 600.0, 600.0, 60.0 - 40.0 * math.exp(-1)),  # one time constant: 63 %
    (20.0, 60.0, 3000.0, 600.0, 60.0 - 40.0 * math.exp(-5)),  # five: settled
    (60.0, 20.0, 600.0, 600.0, 20.0 + 40.0 * math.exp(-1)),  # cooling the same way
    (math.nan, 45.0, 10.0, 600.0, 45.0),  # first sample: at its steady state
])
def test_cable_temperature_first_order(previous: float, steady: float, dt: float, tau: float,
                                       expected: float) -> None:
    got = cable_temperature(np.array([previous]), np.array([steady]), np.array([dt]),
                            np.array([tau]))
    assert got[0] == pytest.approx(expected, abs=1e-9)


def _one_household(layout: EstateLayout) -> tuple[ElectricalModel, int, int]:
    members = _members(layout, DeviceType.ELECTRICAL)
    model = ElectricalModel(layout, members, np.random.default_rng(0), MIDNIGHT_CST,
                            CounterNoise(0))
    local = next(k for k, g in enumerate(members)
                 if layout.devices[g].role is Role.HOUSEHOLD_ELECTRICAL)
    return model, local, int(members[local])


def _inputs(n: int, **given: float) -> dict[str, np.ndarray]:
    return {k: np.full(n, given.get(k, v)) for k, v in ElectricalModel.NEUTRAL_INPUTS.items()}


def test_cable_temperature_lags_a_load_step() -> None:
    model, local, g = _one_household(layout_of("small"))
    tau_s = float(model.tau_s[local])
    rated = float(model.rated_a[local])
    step_at = MIDNIGHT_CST + 3 * 3_600_000  # 03:00: the household is asleep
    times, current, temp = [], [], []
    for k, t in enumerate(range(step_at - 600_000, step_at + round(5 * tau_s * 1000), 10_000)):
        load = rated * 0.95 if t >= step_at else 0.0
        v = model.sample(np.array([local]), np.array([t]), np.array([g]), np.array([k]),
                         _inputs(1, min_current_a=load))
        times.append(t)
        current.append(v["current_a"][0])
        temp.append(v["cable_temp_c"][0])
    times_a, current_a, temp_a = np.array(times), np.array(current), np.array(temp)
    after = times_a >= step_at
    assert current_a[after][0] >= rated * 0.95  # the current steps at once
    before = temp_a[~after][-5:].mean()
    final = temp_a[-5:].mean()
    assert final - before > 20  # close to the rating: the cable warms by tens of degrees
    share = (temp_a - before) / (final - before)
    at_tau = share[np.argmin(np.abs(times_a - (step_at + tau_s * 1000)))]
    early = share[np.argmin(np.abs(times_a - (step_at + tau_s * 100)))]
    assert early < 0.2  # a tenth of tau after the step: still near where it was
    assert at_tau == pytest.approx(1 - math.exp(-1), abs=0.08)


@pytest.mark.parametrize(("elapsed_h", "low", "high"), [
    (-0.1, 0.0, 0.0),  # not plugged in yet
    (0.0, 0.92, 0.921),  # constant current: power creeps up with the battery voltage
    (1.75, 0.955, 0.965),
    (3.49, 0.999, 1.0),
    (3.5 + 0.5, math.exp(-1) - 0.005, math.exp(-1) + 0.005),  # constant voltage: tapering
    (3.5 + 1.0, math.exp(-2) - 0.005, math.exp(-2) + 0.005),
    (3.5 + 1.5 + 0.01, 0.0, 0.0),  # charged: off
])
def test_charger_signature_stages(elapsed_h: float, low: float, high: float) -> None:
    power = 250.0
    got = charger_power_w(np.array([elapsed_h * 3600]), np.array(power), np.array(3.5 * 3600),
                          np.array(1.5 * 3600))[0] / power
    assert low <= got <= high


def test_charger_rises_through_constant_current_then_only_falls() -> None:
    t = np.arange(0, 5 * 3600, 60.0)
    p = charger_power_w(t, np.array(300.0), np.array(3.5 * 3600), np.array(1.5 * 3600))
    cc = t < 3.5 * 3600
    assert (np.diff(p[cc]) >= 0).all() and (np.diff(p[~cc]) <= 0).all()
    assert 100 <= p.max() <= 400


def test_household_loads_follow_the_day_and_stay_within_limits() -> None:
    layout = layout_of("demo")
    members = _members(layout, DeviceType.ELECTRICAL)
    model = ElectricalModel(layout, members, np.random.default_rng(0), MIDNIGHT_CST,
                            CounterNoise(0))
    local = np.arange(len(members))
    household = ~model.corridor
    power, volts, leak, cable, current = [], [], [], [], []
    for k, t in enumerate(range(MIDNIGHT_CST + 120_000, MIDNIGHT_CST + DAY_MS + 1, 120_000)):
        v = model.sample(local, np.full(len(members), t), members, np.full(len(members), k),
                         _inputs(len(members)))
        power.append(v["power_w"])
        volts.append(v["voltage_v"])
        leak.append(v["residual_ma"])
        cable.append(v["cable_temp_c"])
        current.append(v["current_a"] / model.rated_a)
    hours = np.arange(1, len(power) + 1) / 30.0
    mean_power = np.array(power)[:, household].mean(axis=1)

    def at(h0: float, h1: float) -> float:
        return float(mean_power[(hours >= h0) & (hours < h1)].mean())

    assert at(19, 21) > at(7, 8) > at(2, 4)  # evening peak, morning bump, night base load
    assert at(2, 4) < 400
    # No alarm material without a fault: voltage within 187-242 V, natural leakage below
    # 300 mA, cables below 70 °C, currents below the breaker rating.
    # Brief natural sags stay above 187 V.
    assert np.array(volts).min() > 190 and np.array(volts).max() < 235
    assert np.array(leak).min() >= 0 and np.array(leak).max() < 250
    assert np.array(cable).max() < 60
    assert np.array(current).max() < 1.0


def test_landing_box_carries_its_households() -> None:
    """A landing's distribution box measures the sum of its households' loads (as they last
    measured them, 10-20 s before) plus the stair lighting."""
    layout = layout_of("small")
    members = _members(layout, DeviceType.ELECTRICAL)
    start = MIDNIGHT_CST + 19 * 3_600_000
    model = ElectricalModel(layout, members, np.random.default_rng(0), start, CounterNoise(0))
    landing = next(k for k, g in enumerate(members)
                   if layout.devices[g].role is Role.CORRIDOR_ELECTRICAL)
    households = model.landing_members[landing]
    households = households[households >= 0]
    assert len(households) == 3
    local = np.arange(len(members))
    n = len(members)
    sums, boxes = [], []
    for k, t in enumerate(range(start + 10_000, start + 3_600_000, 10_000)):
        v = model.sample(local, np.full(n, t), members, np.full(n, k), _inputs(n))
        sums.append(v["power_w"][households].sum())
        boxes.append(v["power_w"][landing])
    # Samples on the 10 s grid see their households' previous samples; within 1 % noise and
    # the 45 W of stair lighting at 19:00-20:00.
    lag = 1
    box = np.array(boxes[lag:])
    total = np.array(sums[:-lag])
    assert (np.abs(box - 45.0 - total) <= 0.04 * total + 1).all()  # 1 % noise: 4 sigma
    assert np.ptp(total) > 1000  # the households switch appliances: the box sees the steps


def test_natural_leakage_follows_humidity() -> None:
    layout = layout_of("demo")
    members = _members(layout, DeviceType.ELECTRICAL)
    model = ElectricalModel(layout, members, np.random.default_rng(0), MIDNIGHT_CST,
                            CounterNoise(0))
    local = np.arange(len(members))
    leak = []
    for k, t in enumerate(range(MIDNIGHT_CST, MIDNIGHT_CST + DAY_MS, 600_000)):
        leak.append(model.sample(local, np.full(len(members), t), members,
                                 np.full(len(members), k), _inputs(len(members)))
                    ["residual_ma"].mean())
    hours = local_hour(np.arange(MIDNIGHT_CST, MIDNIGHT_CST + DAY_MS, 600_000), 8.0)
    humid = np.cos(2 * np.pi * (hours - 5.0) / 24.0)
    assert np.corrcoef(leak, humid)[0, 1] > 0.8
    assert min(leak) >= 20 and max(leak) <= 150


# Smoke ---------------------------------------------------------------------------------------

def _smoke(layout: EstateLayout) -> tuple[SmokeModel, np.ndarray]:
    members = _members(layout, DeviceType.SMOKE)
    return SmokeModel(layout, members, np.random.default_rng(0), MIDNIGHT_CST,
                      CounterNoise(0)), members


def _smoke_inputs(n: int, **given: np.ndarray) -> dict[str, np.ndarray]:
    out = {k: np.full(n, v) for k, v in SmokeModel.NEUTRAL_INPUTS.items()}
    out.update(given)
    return out


def test_smoke_is_near_zero_and_batteries_discharge_over_months() -> None:
    model, members = _smoke(layout_of("demo"))
    local = np.arange(len(members))
    n = len(members)
    now = model.sample(local, np.full(n, MIDNIGHT_CST), members, np.zeros(n), _smoke_inputs(n))
    later = model.sample(local, np.full(n, MIDNIGHT_CST + 180 * DAY_MS), members, np.ones(n),
                         _smoke_inputs(n))
    assert now["smoke_db_m"].max() < 0.05
    assert now["battery_pct"].min() >= 29
    drop = now["battery_pct"] - later["battery_pct"]
    assert drop.min() >= 8 and drop.max() <= 18  # 0.05-0.09 % a day


@pytest.mark.parametrize(("smoke_per_second", "events"), [
    ([0.3] * 4 + [0.01] * 3, []),  # a 4 s cooking spike: no alarm
    ([0.3] * 7, ["smoke_alarm"]),  # held 5 s: one alarm
    ([0.3] * 7 + [0.1] * 2 + [0.3] * 7, ["smoke_alarm", "smoke_alarm"]),  # cleared, re-armed
    ([0.3] * 7 + [0.18] * 2 + [0.3] * 7, ["smoke_alarm"]),  # not cleared: no repeat
    ([0.19] * 12, []),  # below the alarm level
])
def test_detector_alarm_logic(smoke_per_second: list[float], events: list[str]) -> None:
    model, members = _smoke(layout_of("small"))
    got: list[str] = []
    for k, level in enumerate(smoke_per_second):
        ts = np.array([MIDNIGHT_CST + k * 1000])
        values = model.sample(np.array([0]), ts, members[:1], np.array([k]),
                              _smoke_inputs(1, smoke_db_m=np.array([level])))
        emitted, _ = model.react(np.array([0]), ts, values)
        got += [e.event for e in emitted]
    assert got == events


def test_detector_reports_low_battery_once() -> None:
    model, members = _smoke(layout_of("small"))
    got: list[str] = []
    for k, pct in enumerate([25.0, 21.0, 20.0, 19.0, 18.0]):
        ts = np.array([MIDNIGHT_CST + k * 1000])
        values = model.sample(np.array([0]), ts, members[:1], np.array([k]),
                              _smoke_inputs(1, battery_pct=np.array([pct])))
        emitted, _ = model.react(np.array([0]), ts, values)
        got += [e.event for e in emitted]
    assert got == ["low_battery"]


def test_fridges_and_air_conditioners_cycle_as_in_real_homes() -> None:
    """A fridge's compressor: 50-90 W (with its start surge) for 12-30 min every 40-110 min;
    an air conditioner that is on: its compressor 8-20 min at a time, the fan alone between.
    Each is read as the difference from the same homes without it."""
    layout = layout_of("demo")
    members = _members(layout, DeviceType.ELECTRICAL)

    def night(change: str | None) -> tuple[ElectricalModel, np.ndarray]:
        model = ElectricalModel(layout, members, np.random.default_rng(0), MIDNIGHT_CST,
                                CounterNoise(0))
        if change:
            getattr(model, change)[:] = 0.0
        local = np.flatnonzero(~model.corridor)[:60]
        start = MIDNIGHT_CST + 21 * 3_600_000
        power = [model.sample(local, np.full(local.size, start + k * 60_000), members[local],
                              np.full(local.size, k), _inputs(local.size))["power_w"]
                 for k in range(6 * 60)]
        return model, np.array(power)  # minutes x households

    model, watts = night(None)
    fridge = watts - night("fridge_w")[1]
    for j in range(fridge.shape[1]):
        on = fridge[:, j] > 1.0
        assert 50 <= np.median(fridge[on, j]) <= 100
        edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
        starts, lengths = edges[::2], edges[1::2] - edges[::2]
        starts = starts[starts > 0]  # not the window's edge
        assert np.all(np.diff(starts) >= 39) and np.all(np.diff(starts) <= 111)
        assert np.all(lengths[1:-1] >= 11) and np.all(lengths[1:-1] <= 31)
    cooling = watts - night("cool_w")[1]
    share = cooling / model.cool_w[np.flatnonzero(~model.corridor)[:60]]
    running = share > 0.05
    assert running.any(axis=0).sum() >= 10  # some air conditioners on in the evening
    fan = np.isclose(share, 0.1, atol=0.01)
    assert fan[running].mean() > 0.1  # the compressor rests while the unit runs
    compressor = running & ~fan
    for j in np.flatnonzero(running.sum(axis=0) > 120):
        edges = np.flatnonzero(np.diff(np.r_[0, compressor[:, j].astype(int), 0]))
        lengths = (edges[1::2] - edges[::2])[1:-1]
        assert lengths.size and np.all(lengths <= 21), lengths
