"""Faults of the water supply: burst pipe, pump failure, low and over pressure."""

from __future__ import annotations

import numpy as np

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.catalogue import DeviceType
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import Fault, Param, Sim, params_table
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.outgoing import Outgoing
from gongzhi.simulators.signals.daily import FloatArray, IntArray

_MINUTE = 60_000


class BurstPipe(Fault):
    kind = "burst_pipe"
    summary = "a riser bursts (or a hydrant is opened): pressure falls fast and stays down"
    roles = (Role.RISER,)
    duration_ms = 20 * _MINUTE
    params = params_table({
        "drop_mpa": Param(0.09, "pressure lost"),
        "fall_s": Param(20.0, "seconds the fall takes"),
    })
    ticket = AlarmKind.WATER_PRESSURE_DROP
    also = (AlarmKind.WATER_PRESSURE_LOW,)
    has_overlay = True

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        drop = self.p["drop_mpa"] * self.progress(ts, self.p["fall_s"])
        values["pressure_mpa"] = np.maximum(values["pressure_mpa"] - drop, 0.0)


class PumpFailure(Fault):
    kind = "pump_failure"
    summary = ("a building's refill pump fails: the roof tank drains with the demand and the "
               "risers' pressure declines slowly until it is low")
    roles = (Role.RISER,)
    duration_ms = 2 * 60 * _MINUTE
    params = params_table({
        "rate_mpa_per_min": Param(0.004, "riser decline (slow: never a sudden drop)"),
        "floor_mpa": Param(0.04, "pressure the risers settle at"),
    })
    ticket = AlarmKind.WATER_PRESSURE_LOW  # on every riser; the drained tank may go low too
    also = (AlarmKind.WATER_PRESSURE_LOW,)
    has_overlay = True

    def involved(self, sim: Sim) -> list[int]:
        others = sim.in_building(self.target, (Role.RISER, Role.ROOF_TANK))
        devices = [self.target, *(g for g in others if g != self.target)]
        self._risers = np.array([g for g in devices if sim.role(g) is Role.RISER],
                                dtype=np.int64)
        return devices

    def _building(self, sim: Sim) -> int:
        return sim.layout.devices[self.target].building

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.water.pump_failed[self._building(sim)] = True
        return []

    def end(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.water.pump_failed[self._building(sim)] = False
        return []

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        risers = self.riser_mask(gidx)
        declined = np.maximum(values["pressure_mpa"]
                              - self.p["rate_mpa_per_min"] * self.elapsed_s(ts) / 60.0,
                              self.p["floor_mpa"])
        values["pressure_mpa"] = np.where(risers, np.minimum(values["pressure_mpa"], declined),
                                          values["pressure_mpa"])

    def riser_mask(self, gidx: IntArray) -> np.ndarray:
        return np.isin(gidx, self._risers)

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, sim.record(int(g)), self.ticket) for g in self._risers]


class PressureLow(Fault):
    kind = "pressure_low"
    summary = ("a riser's pressure declines (slower than the sudden-drop rule) to below "
               "0.10 MPa and stays there")
    roles = (Role.RISER,)
    duration_ms = 6 * _MINUTE
    params = params_table({
        "level_mpa": Param(0.07, "pressure held"),
        "rate_mpa_per_min": Param(0.035, "decline rate"),
    })
    ticket = AlarmKind.WATER_PRESSURE_LOW
    has_overlay = True

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        v = values["pressure_mpa"]
        declined = np.maximum(v - self.p["rate_mpa_per_min"] * self.elapsed_s(ts) / 60.0,
                              self.p["level_mpa"])
        values["pressure_mpa"] = np.minimum(v, declined)


class OverPressure(Fault):
    kind = "over_pressure"
    summary = "the pump-room header climbs above 1.0 MPa: a failed pressure regulator"
    roles = (Role.PUMP_ROOM,)
    duration_ms = 5 * _MINUTE
    params = params_table({
        "level_mpa": Param(1.15, "pressure reached"),
        "rate_mpa_per_min": Param(0.4, "climb rate"),
    })
    ticket = AlarmKind.WATER_PRESSURE_HIGH
    has_overlay = True

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        v = values["pressure_mpa"]
        climbed = np.minimum(v + self.p["rate_mpa_per_min"] * self.elapsed_s(ts) / 60.0,
                             self.p["level_mpa"])
        values["pressure_mpa"] = np.maximum(v, climbed)
