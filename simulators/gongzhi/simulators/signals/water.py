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

import numpy as np

from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import FloatArray, IntArray, local_hour, water_demand

G_MPA_PER_M = 0.00980665  # 1 m of water column
TANK_STAND_M = 1.5  # tank floor above the roof slab
SENSOR_HEIGHT_M = 1.0  # riser sensor above the ground floor
LEVEL_LOW_M, LEVEL_HIGH_M = 1.0, 2.2  # pump start and stop marks
OUTLET_IDLE_MPA, OUTLET_BOOST_MPA = 0.26, 0.20  # header pressure: pumps stopped / all running
OUTLET_SLEW_MPA_PER_S = 0.03 / 60  # variable-speed drive ramp

ROLE_RISER, ROLE_TANK, ROLE_PUMP = 0, 1, 2
_ROLE_CODES = {Role.RISER: ROLE_RISER, Role.ROOF_TANK: ROLE_TANK, Role.PUMP_ROOM: ROLE_PUMP}


class WaterModel:
    STEP_MS = 10_000

    def __init__(self, layout: EstateLayout, devices: IntArray, rng: np.random.Generator,
                 start_ms: int) -> None:
        placed = [layout.devices[int(i)] for i in devices]
        n = len(placed)
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
        self.utc_offset_h = np.array([layout.estates[b.estate_index].utc_offset_h
                                      for b in layout.buildings])
        self.has_tank = np.array([b.spec is not None and b.spec.roof_tank
                                  for b in layout.buildings])
        self.estate_of = np.array([b.estate_index for b in layout.buildings], dtype=np.int64)
        self.level_m = rng.uniform(LEVEL_LOW_M + 0.1, LEVEL_HIGH_M - 0.1, nb)
        self.pump_on = rng.random(nb) < 0.3
        self.drain_m_per_h = rng.uniform(1.0, 1.4, nb)  # at full demand
        self.fill_m_per_h = rng.uniform(2.0, 2.4, nb)
        self.pump_failed = np.zeros(nb, dtype=np.bool_)
        ne = len(layout.estates)
        self.outlet_mpa = np.full(ne, OUTLET_IDLE_MPA)
        self.t_ms = start_ms

    def advance(self, to_ms: int) -> None:
        """Integrate tank levels and pumps up to ``to_ms`` in fixed steps."""
        while self.t_ms + self.STEP_MS <= to_ms:
            self.t_ms += self.STEP_MS
            self._step(self.STEP_MS / 1000)

    def _step(self, dt_s: float) -> None:
        demand = water_demand(local_hour(self.t_ms, self.utc_offset_h))
        running = self.pump_on & ~self.pump_failed
        dl = (running * self.fill_m_per_h - demand * self.drain_m_per_h) * dt_s / 3600
        self.level_m = np.where(self.has_tank, np.clip(self.level_m + dl, 0.0, 2.6), 0.0)
        self.pump_on = np.where(self.level_m <= LEVEL_LOW_M, True,
                                np.where(self.level_m >= LEVEL_HIGH_M, False, self.pump_on))
        share = np.bincount(self.estate_of, weights=running & self.has_tank,
                            minlength=len(self.outlet_mpa))
        tanks = np.maximum(np.bincount(self.estate_of, weights=self.has_tank,
                                       minlength=len(self.outlet_mpa)), 1)
        target = OUTLET_IDLE_MPA + OUTLET_BOOST_MPA * share / tanks
        step = OUTLET_SLEW_MPA_PER_S * dt_s
        self.outlet_mpa += np.clip(target - self.outlet_mpa, -step, step)

    def sample(self, local: IntArray, ts: IntArray, rng: np.random.Generator) -> dict[str,
                                                                                     FloatArray]:
        b = self.building[local]
        role = self.role[local]
        demand = water_demand(local_hour(ts, self.utc_offset_h[b]))
        level = self.level_m[b]
        estate = self.estate_of[b]
        riser = np.where(self.has_tank[b],
                         G_MPA_PER_M * (self.head_m[local] + level),
                         self.outlet_mpa[estate] - G_MPA_PER_M * SENSOR_HEIGHT_M)
        riser = riser - self.friction_mpa[local] * demand ** 2
        value = np.where(role == ROLE_RISER, riser,
                         np.where(role == ROLE_TANK, G_MPA_PER_M * level,
                                  self.outlet_mpa[estate]))
        value = value + self.offset_mpa[local] * (role != ROLE_TANK) \
            + rng.normal(0.0, 1.0, len(local)) * self.noise_mpa[local]
        return {"pressure_mpa": np.maximum(value, 0.0)}
