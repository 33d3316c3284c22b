"""Electrical-safety monitors on household circuits and landing distribution boxes.

Household load is a standby base load, a fridge compressor cycling, and appliances switching as
two-state Markov processes whose start rates follow the hour (cooking at meal times,
air-conditioning afternoons and nights, water heaters for evening showers, short appliances).
The cycles are those of real homes' 1-minute records (household-power/): a fridge or freezer
draws 50-90 W for 12-30 min every 40-110 min, with a start surge that fades over a few minutes;
an air conditioner that is on runs its compressor 8-20 min at a time with 3-10 min pauses on
its fan alone. Both are pure functions of time per device, so stepping does not change them.
Lamps, electronics and standby loads move the rest a little, in small switches, and the meter
reads with a little noise: small loads switch at 0.5 a minute by ±3 W or more (exponential sizes,
mean 5.8 W; a switch up is likelier the further the small loads are below their usual level,
so they stay within about 30 W of it), the meter's noise 0.6 W. Fitted on the development house
of household-power/ (UK-DALE house 2): between minutes without an appliance switching its load
changes by under 1 W in 46 % of minutes (1.4 % not at all), 7.7 W or more in 10 %, 5.9 W as a
standard deviation. Without them every report between switches was exactly the last but for the
fridge's fading start surge: a glide no real home shows.
A landing's distribution box feeds its households: it carries the sum of their loads (each as
its own monitor last measured it at least 10 s before, a rule that keeps the result independent
of how time is stepped) and the stair lighting. Mains voltage sits around 220 V with the
building's evening drop and rare short sags. Natural leakage (20-150 mA) drifts
with humidity and a slow random walk. Cable temperature follows the load through a first-order
thermal model: it settles to ambient + k·I² with time constant tau, exactly integrated between
samples, so it lags the load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np

from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout, PlacedDevice
from gongzhi.simulators.signals.daily import (
    FloatArray,
    IntArray,
    appliance_rate,
    cooking_rate,
    cooling_rate,
    corridor_lighting_w,
    daily_table,
    electrical_load,
    heater_rate,
    indoor_temp_c,
    local_slot,
    relative_humidity,
)
from gongzhi.simulators.signals.noise import CounterNoise

Curve = Callable[[FloatArray], FloatArray]

NOMINAL_V = 220.0
HISTORY = 3  # household loads remembered for the landing sums
LANDING_GRID_MS = 10_000
LEAK_WALK_TAU_S = 3 * 3600.0
MAX_GAP_S = 6 * 3600.0
# The small loads' switching and the meter's noise (fitted on the development house of
# household-power/, see above).
SMALL_RATE_PER_S, SMALL_MEAN_W, SMALL_MIN_W, SMALL_SPREAD_W = 0.5 / 60.0, 5.8, 3.0, 30.0
METER_NOISE_W = 0.6
# Mean on-durations (s) of the switching appliances.
COOK_S, COOL_S, HEAT_S, APPLIANCE_S = 25 * 60.0, 90 * 60.0, 30 * 60.0, 6 * 60.0


def _landing_members(placed: list[PlacedDevice]) -> IntArray:
    """For each landing box, the local indices of its landing's household monitors (-1 pad)."""
    households: dict[tuple[int, int, int], list[int]] = {}
    for k, d in enumerate(placed):
        if d.role is Role.HOUSEHOLD_ELECTRICAL:
            households.setdefault((d.building, d.unit, d.floor), []).append(k)
    width = max((len(v) for v in households.values()), default=0)
    out = np.full((len(placed), max(width, 1)), -1, dtype=np.int64)
    for k, d in enumerate(placed):
        if d.role is Role.CORRIDOR_ELECTRICAL:
            members = households.get((d.building, d.unit, d.floor), [])
            out[k, :len(members)] = members
    return out


def charger_power_w(elapsed_s: FloatArray, power_w: FloatArray, cc_s: FloatArray,
                    taper_s: FloatArray) -> FloatArray:
    """An e-bike charger's draw ``elapsed_s`` after plugging in: constant current (power
    creeping up with the battery voltage, 92 % → 100 %) for ``cc_s``, then constant voltage with
    the current tapering exponentially for ``taper_s``; zero after, or before plugging in."""
    t = np.asarray(elapsed_s, dtype=np.float64)
    cc = power_w * (0.92 + 0.08 * np.clip(t / np.maximum(cc_s, 1.0), 0.0, 1.0))
    cv = power_w * np.exp(-3.0 * (t - cc_s) / np.maximum(taper_s, 1.0))
    out = np.where(t < cc_s, cc, cv)
    return np.where((t < 0) | (t > cc_s + taper_s), 0.0, out)


def cable_temperature(previous_c: FloatArray, steady_c: FloatArray, dt_s: FloatArray,
                      tau_s: FloatArray) -> FloatArray:
    """First-order thermal response: exact for a load held over ``dt_s``."""
    decay = np.exp(-np.asarray(dt_s) / tau_s)
    return np.where(np.isnan(previous_c), steady_c, steady_c + (previous_c - steady_c) * decay)


class ElectricalModel:
    # Fault inputs and their neutral values (see Fault.inputs).
    NEUTRAL_INPUTS: ClassVar[Mapping[str, float]] = {"extra_w": 0.0, "min_current_a": 0.0,
                                        "extra_leak_ma": 0.0, "voltage_v": np.nan,
                                        "terminal_rise_c": 0.0}

    def __init__(self, layout: EstateLayout, devices: IntArray, rng: np.random.Generator,
                 start_ms: int, noise: CounterNoise) -> None:
        placed = [layout.devices[int(i)] for i in devices]
        n = len(placed)
        self.noise = noise
        self.corridor = np.array([d.role is Role.CORRIDOR_ELECTRICAL for d in placed],
                                 dtype=np.bool_)
        self.building = np.array([d.building for d in placed], dtype=np.int64)
        self.utc_offset_ms = np.array(
            [round(layout.estates[layout.buildings[d.building].estate_index].utc_offset_h
                   * 3_600_000) for d in placed], dtype=np.int64)
        default_rating = np.where(self.corridor, 63.0, 32.0)
        self.rated_a = np.array([d.record.setting("rated_current_a", float(default_rating[i]))
                                 for i, d in enumerate(placed)])
        specs = [layout.buildings[d.building].spec for d in placed]
        landing = np.array([spec.households_per_floor if spec else 1 for spec in specs])
        self.households_served = np.where(self.corridor, landing, 1)
        self.landing_members = _landing_members(placed)
        # The last three measured household loads, for the landing sums.
        self.history_ts = np.full((n, HISTORY), -1, dtype=np.int64)
        self.history_w = np.zeros((n, HISTORY))
        self.history_next = np.zeros(n, dtype=np.int64)
        self.base_w = np.where(self.corridor, 0.0, rng.uniform(60.0, 160.0, n))
        self.pf = rng.uniform(0.90, 0.98, n)
        median_leak = np.where(self.corridor, 80.0, 45.0)
        self.leak_base_ma = np.clip(median_leak * rng.lognormal(0.0, 0.45, n), 20.0, 150.0)
        self.humidity_gain = rng.uniform(0.3, 0.7, n)
        self.tau_s = rng.uniform(600.0, 1500.0, n)
        # Steady cable rise of 28-38 °C at the breaker rating.
        self.k_rise = rng.uniform(28.0, 38.0, n) / self.rated_a ** 2
        self.cook_w = rng.uniform(1000.0, 2000.0, n)
        self.cool_w = rng.uniform(600.0, 1300.0, n)
        self.heat_w = rng.uniform(1500.0, 2200.0, n)
        self.appliance_w = rng.uniform(300.0, 1200.0, n)
        # Everything on at once stays just under a 32 A breaker: overloads come from faults.
        self.diversity = rng.uniform(0.8, 1.2, n)
        self.building_volt_offset = rng.uniform(-3.0, 3.0, len(layout.buildings))
        # Cycles (drawn last: the draws above stay as they were).
        self.fridge_w = np.where(self.corridor, 0.0, rng.uniform(50.0, 90.0, n))
        self.fridge_on_s = rng.uniform(12.0, 30.0, n) * 60.0
        self.fridge_period_s = self.fridge_on_s + rng.uniform(25.0, 80.0, n) * 60.0
        self.fridge_phase_s = rng.uniform(0.0, 1.0, n) * self.fridge_period_s
        self.ac_on_s = rng.uniform(8.0, 20.0, n) * 60.0
        self.ac_period_s = self.ac_on_s + rng.uniform(3.0, 10.0, n) * 60.0
        self.ac_phase_s = rng.uniform(0.0, 1.0, n) * self.ac_period_s
        self.base_w = self.base_w - 0.3 * self.fridge_w  # the fridge's average was in it

        # State.
        self.cooking = np.zeros(n, dtype=np.bool_)
        self.cooling = rng.random(n) < 0.2
        self.heating = np.zeros(n, dtype=np.bool_)
        self.appliance = np.zeros(n, dtype=np.bool_)
        self.cable_c = np.full(n, np.nan)
        self.leak_walk_ma = rng.normal(0.0, 4.0, n)
        self.small_w = np.zeros(n)  # starts at the usual level: no draw, the others stay
        self.last_ms = np.full(n, start_ms, dtype=np.int64)

    def _households_w(self, local: IntArray, ts: IntArray, typical_w: FloatArray) -> FloatArray:
        """For landing boxes: the sum of their households' loads as measured at or before the
        10 s grid point preceding the previous one (engine steps are at most 10 s, so those
        samples are always already taken); the typical load where none is known yet."""
        members = self.landing_members[local]  # (rows, k), -1: none
        out = np.asarray(self.households_served[local] * typical_w, dtype=np.float64)
        rows = np.flatnonzero((members >= 0).any(axis=1))
        if not rows.size:
            return out
        m = members[rows]
        cutoff = (ts[rows] // LANDING_GRID_MS - 1) * LANDING_GRID_MS
        when = self.history_ts[np.maximum(m, 0)]  # (rows, k, HISTORY)
        usable = (when >= 0) & (when <= cutoff[:, None, None])
        latest = np.argmax(np.where(usable, when, -1), axis=2)
        watts = np.take_along_axis(self.history_w[np.maximum(m, 0)], latest[..., None],
                                   axis=2)[..., 0]
        known = usable.any(axis=2)
        typical = (typical_w[rows] / np.maximum(self.households_served[local[rows]], 1))[:, None]
        per_household = np.where(known, watts, typical) * (m >= 0)
        out[rows] = per_household.sum(axis=1)
        return out

    def _remember(self, local: IntArray, ts: IntArray, power: FloatArray) -> None:
        slot = self.history_next[local]
        self.history_ts[local, slot] = ts
        self.history_w[local, slot] = power
        self.history_next[local] = (slot + 1) % HISTORY

    def sample(self, local: IntArray, ts: IntArray, key: IntArray, count: IntArray,
               inputs: dict[str, FloatArray]) -> dict[str, FloatArray]:
        noise = self.noise
        dt = np.clip((ts - self.last_ms[local]) / 1000.0, 0.0, MAX_GAP_S)
        self.last_ms[local] = ts
        slot = local_slot(ts, self.utc_offset_ms[local])
        corridor = self.corridor[local]

        def switch(stream: int, state: np.ndarray, curve: Curve, mean_on_s: float) -> np.ndarray:
            # A two-state Markov chain, switching on at the hour's rate and off after
            # ``mean_on_s`` on average, stepped exactly over ``dt`` (also after a long gap).
            on = state[local]
            u = noise.uniform(stream, key, count)
            rate_on = daily_table(curve)[slot] / 3600.0
            rate_off = 1.0 / mean_on_s
            total = rate_on + rate_off
            mixing = 1.0 - np.exp(-total * dt)
            flip = np.where(on, rate_off / total, rate_on / total) * mixing
            new = (on ^ (u < flip)) & ~corridor
            state[local] = new
            return new

        cooking = switch(30, self.cooking, cooking_rate, COOK_S)
        cooling = switch(31, self.cooling, cooling_rate, COOL_S)
        heating = switch(32, self.heating, heater_rate, HEAT_S)
        appliance = switch(33, self.appliance, appliance_rate, APPLIANCE_S)
        t_s = ts / 1000.0
        into_fridge = (t_s + self.fridge_phase_s[local]) % self.fridge_period_s[local]
        fridge = (into_fridge < self.fridge_on_s[local]) * self.fridge_w[local] * (
            1.0 + 0.4 * np.exp(-into_fridge / 120.0))
        compressor = ((t_s + self.ac_phase_s[local]) % self.ac_period_s[local]
                      < self.ac_on_s[local])
        ac_share = np.where(compressor, 0.6 + 0.4 * noise.uniform(34, key, count), 0.1)
        small = self.small_w[local]
        switched = noise.uniform(44, key, count) < 1.0 - np.exp(-SMALL_RATE_PER_S * dt)
        size = SMALL_MIN_W - (SMALL_MEAN_W - SMALL_MIN_W) * np.log(
            1.0 - noise.uniform(45, key, count))
        up = noise.uniform(46, key, count) < np.clip(0.5 - small / (4 * SMALL_SPREAD_W), 0, 1)
        small = small + switched * np.where(up, size, -size)
        self.small_w[local] = small
        small_w = np.maximum(self.base_w[local] + small, 0.5 * self.base_w[local]) \
            + METER_NOISE_W * noise.normal(47, key, count)
        household_w = (small_w + fridge + cooking * self.cook_w[local]
                       + cooling * self.cool_w[local] * ac_share
                       + heating * self.heat_w[local] + appliance * self.appliance_w[local])
        load = daily_table(electrical_load)[slot]
        typical_w = (160.0 + 1100.0 * load) * self.diversity[local]
        landing_w = (daily_table(corridor_lighting_w)[slot]
                     + self._households_w(local, ts, typical_w)
                     * (1.0 + 0.01 * noise.normal(35, key, count)))
        power = np.where(corridor, landing_w, household_w) + inputs["extra_w"]

        b = self.building[local]
        voltage = (NOMINAL_V + 3.0 + self.building_volt_offset[b] - 6.0 * load
                   + 0.6 * noise.normal(36, key, count))
        dip = noise.uniform(37, key, count)
        voltage = voltage - (dip < 0.003) * (6.0 + 12.0 * dip / 0.003)
        forced = inputs["voltage_v"]
        voltage = np.where(np.isnan(forced), voltage, forced + 0.5 * noise.normal(38, key, count))

        pf = self.pf[local]
        current = np.maximum(power / (voltage * pf), inputs["min_current_a"])
        power = current * voltage * pf
        self._remember(local[~corridor], ts[~corridor], power[~corridor])

        steady = (daily_table(indoor_temp_c)[slot] + 2.0 + self.k_rise[local] * current ** 2
                  + inputs["terminal_rise_c"])
        cable = cable_temperature(self.cable_c[local], steady, dt, self.tau_s[local])
        self.cable_c[local] = cable

        decay = np.exp(-dt / LEAK_WALK_TAU_S)
        walk = (self.leak_walk_ma[local] * decay
                + 5.0 * np.sqrt(1.0 - decay ** 2) * noise.normal(39, key, count))
        self.leak_walk_ma[local] = walk
        humidity = daily_table(relative_humidity)[slot]
        residual = (self.leak_base_ma[local] * (1.0 + self.humidity_gain[local] * (humidity - 0.72))
                    + walk + heating * 8.0 + inputs["extra_leak_ma"]
                    + 1.2 * noise.normal(40, key, count))
        return {
            "residual_ma": np.maximum(residual, 0.0),
            "cable_temp_c": cable + 0.15 * noise.normal(41, key, count),
            "current_a": current,
            "voltage_v": voltage,
            "power_w": power,
        }
