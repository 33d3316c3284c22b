"""Electrical-safety monitors on household circuits and landing distribution boxes.

Household load is a base load (fridge, standby) plus appliances switching as two-state Markov
processes whose start rates follow the hour (cooking at meal times, air-conditioning afternoons
and nights, water heaters for evening showers, short appliances). A landing's distribution box
carries its households' diversified load and the stair lighting. Mains voltage sits around
220 V with the building's evening drop and rare short sags. Natural leakage (20-150 mA) drifts
with humidity and a slow random walk. Cable temperature follows the load through a first-order
thermal model: it settles to ambient + k·I² with time constant tau, exactly integrated between
samples, so it lags the load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np

from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout
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
LEAK_WALK_TAU_S = 3 * 3600.0
MAX_GAP_S = 6 * 3600.0
# Mean on-durations (s) of the switching appliances.
COOK_S, COOL_S, HEAT_S, APPLIANCE_S = 25 * 60.0, 90 * 60.0, 30 * 60.0, 6 * 60.0


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

        # State.
        self.cooking = np.zeros(n, dtype=np.bool_)
        self.cooling = rng.random(n) < 0.2
        self.heating = np.zeros(n, dtype=np.bool_)
        self.appliance = np.zeros(n, dtype=np.bool_)
        self.cable_c = np.full(n, np.nan)
        self.leak_walk_ma = rng.normal(0.0, 4.0, n)
        self.last_ms = np.full(n, start_ms, dtype=np.int64)

    def sample(self, local: IntArray, ts: IntArray, key: IntArray, count: IntArray,
               inputs: dict[str, FloatArray]) -> dict[str, FloatArray]:
        noise = self.noise
        dt = np.clip((ts - self.last_ms[local]) / 1000.0, 0.0, MAX_GAP_S)
        self.last_ms[local] = ts
        slot = local_slot(ts, self.utc_offset_ms[local])
        corridor = self.corridor[local]

        def switch(stream: int, state: np.ndarray, curve: Curve, mean_on_s: float) -> np.ndarray:
            on = state[local]
            u = noise.uniform(stream, key, count)
            rate_per_h = daily_table(curve)[slot]
            turn_on = ~on & (u < 1.0 - np.exp(-rate_per_h * dt / 3600.0))
            turn_off = on & (u < 1.0 - np.exp(-dt / mean_on_s))
            new = (on | turn_on) & ~turn_off & ~corridor
            state[local] = new
            return new

        cooking = switch(30, self.cooking, cooking_rate, COOK_S)
        cooling = switch(31, self.cooling, cooling_rate, COOL_S)
        heating = switch(32, self.heating, heater_rate, HEAT_S)
        appliance = switch(33, self.appliance, appliance_rate, APPLIANCE_S)
        household_w = (self.base_w[local] + cooking * self.cook_w[local]
                       + cooling * self.cool_w[local] * (0.6 + 0.4 * noise.uniform(34, key, count))
                       + heating * self.heat_w[local] + appliance * self.appliance_w[local])
        load = daily_table(electrical_load)[slot]
        landing_w = (daily_table(corridor_lighting_w)[slot] + self.households_served[local]
                     * (160.0 + 1100.0 * load) * self.diversity[local]
                     * (1.0 + 0.08 * noise.normal(35, key, count)))
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
