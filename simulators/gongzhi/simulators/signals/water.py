"""Water pressure in an old estate's supply: pump room → roof tanks → risers.

Each building's roof tank is refilled by the estate's pump room: the pump starts when the tank
falls to its low mark and stops at its high mark, so the tank level is a sawtooth whose falling
slope follows the daily demand. A riser sensor at the foot of a riser reads the static head from
the tank's water surface minus the friction loss of the flow, which grows with the square of the
demand: its daily minimum falls in the evening peak. The roof-tank sensor reads the water depth;
the pump-room sensor reads the outlet header, high while pumps run, ramped by the variable-speed
drive so that a stop is not a sudden drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import (
    FloatArray,
    IntArray,
    daily_table,
    local_slot,
    water_demand,
)
from gongzhi.simulators.signals.noise import CounterNoise

G_MPA_PER_M = 0.00980665  # 1 m of water column
TANK_STAND_M = 1.5  # tank floor above the roof slab
SENSOR_HEIGHT_M = 1.0  # riser sensor above the ground floor
LEVEL_LOW_M, LEVEL_HIGH_M = 1.0, 2.2  # pump start and stop marks
OUTLET_IDLE_MPA, OUTLET_BOOST_MPA = 0.26, 0.20  # header pressure: pumps stopped / all running
OUTLET_SLEW_MPA_PER_S = 0.03 / 60  # variable-speed drive ramp

ROLE_RISER, ROLE_TANK, ROLE_PUMP = 0, 1, 2
_ROLE_CODES = {Role.RISER: ROLE_RISER, Role.ROOF_TANK: ROLE_TANK, Role.PUMP_ROOM: ROLE_PUMP}


class WaterModel:
    """Building-level state (tank levels, pumps, pump-room headers) integrated on a fixed 10 s
    grid, with a short history so that a sample reads the state at its own time whatever the
    length of the step it is computed in."""

    # Faults act on the outputs and on pump_failed, not through inputs.
    NEUTRAL_INPUTS: ClassVar[Mapping[str, float]] = {}
    STEP_MS = 10_000
    HISTORY = 128  # grid steps kept (21 min): far more than a step of the engine

    def __init__(self, layout: EstateLayout, devices: IntArray, rng: np.random.Generator,
                 start_ms: int, noise: CounterNoise) -> None:
        placed = [layout.devices[int(i)] for i in devices]
        n = len(placed)
        self.noise = noise
        self.role = np.array([_ROLE_CODES[d.role] for d in placed], dtype=np.int8)
        self.building = np.array([d.building for d in placed], dtype=np.int64)
        heads = []
        for d in placed:
            spec = layout.buildings[d.building].spec
            heads.append(spec.floors * spec.floor_height_m + TANK_STAND_M - SENSOR_HEIGHT_M
                         if spec is not None else 0.0)
        self.head_m = np.array(heads)
        # Friction loss at full demand, and the sensor's calibration offset and noise.
        self.friction_mpa = rng.uniform(0.035, 0.055, n)
        self.offset_mpa = rng.normal(0.0, 0.003, n)
        self.noise_mpa = np.where(self.role == ROLE_TANK, 0.0004, 0.0015)

        nb = len(layout.buildings)
        self.utc_offset_ms = np.array([round(layout.estates[b.estate_index].utc_offset_h
                                             * 3_600_000) for b in layout.buildings],
                                      dtype=np.int64)
        self.has_tank = np.array([b.spec is not None and b.spec.roof_tank
                                  for b in layout.buildings])
        self.estate_of = np.array([b.estate_index for b in layout.buildings], dtype=np.int64)
        self.level_m = np.where(self.has_tank,
                                rng.uniform(LEVEL_LOW_M + 0.1, LEVEL_HIGH_M - 0.1, nb), 0.0)
        self.pump_on = rng.random(nb) < 0.3
        self.drain_m_per_h = rng.uniform(1.0, 1.4, nb)  # at full demand
        self.fill_m_per_h = rng.uniform(2.0, 2.4, nb)
        self.pump_failed = np.zeros(nb, dtype=np.bool_)
        self._tanks = np.maximum(np.bincount(self.estate_of, weights=self.has_tank,
                                             minlength=len(layout.estates)), 1)
        self.outlet_mpa = np.full(len(layout.estates), OUTLET_IDLE_MPA)
        self.start_ms = start_ms
        self.step = 0  # grid steps integrated
        self._level_hist = np.zeros((self.HISTORY, nb))
        self._outlet_hist = np.zeros((self.HISTORY, len(layout.estates)))
        self._record()

    def _record(self) -> None:
        self._level_hist[self.step % self.HISTORY] = self.level_m
        self._outlet_hist[self.step % self.HISTORY] = self.outlet_mpa

    def advance(self, to_ms: int) -> None:
        """Integrate tank levels and pumps up to ``to_ms`` on the grid."""
        last = (to_ms - self.start_ms) // self.STEP_MS
        while self.step < last:
            self.step += 1
            self._step(self.start_ms + self.step * self.STEP_MS, self.STEP_MS / 1000)
            self._record()

    def _step(self, t_ms: int, dt_s: float) -> None:
        slot = local_slot(np.array(t_ms), self.utc_offset_ms)
        demand = daily_table(water_demand)[slot]
        running = self.pump_on & ~self.pump_failed
        dl = (running * self.fill_m_per_h - demand * self.drain_m_per_h) * dt_s / 3600
        self.level_m = np.where(self.has_tank, np.clip(self.level_m + dl, 0.0, 2.6), 0.0)
        self.pump_on = np.where(self.level_m <= LEVEL_LOW_M, True,
                                np.where(self.level_m >= LEVEL_HIGH_M, False, self.pump_on))
        share = np.bincount(self.estate_of, weights=running & self.has_tank,
                            minlength=len(self.outlet_mpa))
        target = OUTLET_IDLE_MPA + OUTLET_BOOST_MPA * share / self._tanks
        step = OUTLET_SLEW_MPA_PER_S * dt_s
        self.outlet_mpa = self.outlet_mpa + np.clip(target - self.outlet_mpa, -step, step)

    def sample(self, local: IntArray, ts: IntArray, key: IntArray, count: IntArray,
               inputs: dict[str, FloatArray]) -> dict[str, FloatArray]:
        b = self.building[local]
        role = self.role[local]
        grid = np.clip((ts - self.start_ms) // self.STEP_MS, self.step - self.HISTORY + 1,
                       self.step) % self.HISTORY
        level = self._level_hist[grid, b]
        outlet = self._outlet_hist[grid, self.estate_of[b]]
        demand = daily_table(water_demand)[local_slot(ts, self.utc_offset_ms[b])]
        riser = np.where(self.has_tank[b], G_MPA_PER_M * (self.head_m[local] + level),
                         outlet - G_MPA_PER_M * SENSOR_HEIGHT_M)
        riser = riser - self.friction_mpa[local] * demand ** 2
        value = np.where(role == ROLE_RISER, riser,
                         np.where(role == ROLE_TANK, G_MPA_PER_M * level, outlet))
        value = (value + self.offset_mpa[local] * (role != ROLE_TANK)
                 + self.noise.normal(20, key, count) * self.noise_mpa[local])
        return {"pressure_mpa": np.maximum(value, 0.0)}
