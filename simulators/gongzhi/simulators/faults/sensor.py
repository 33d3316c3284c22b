"""Sensor faults: a reading frozen at one value, or one drifting away from the truth."""

from __future__ import annotations

import numpy as np

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.catalogue import DeviceType
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import ELECTRICAL_ROLES, Fault, Param, params_table
from gongzhi.simulators.signals.daily import FloatArray, IntArray

_HOUR = 3_600_000


class SensorStuck(Fault):
    kind = "sensor_stuck"
    summary = "a sensor keeps sending exactly the same values"
    roles = (Role.RISER, Role.PUMP_ROOM, *ELECTRICAL_ROLES)
    duration_ms = 3 * _HOUR
    ticket = AlarmKind.SENSOR_FAULT
    has_overlay = True
    _frozen: dict[str, float] | None = None

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        if self._frozen is None:
            self._frozen = {k: float(v[0]) for k, v in values.items()}
        for name, value in self._frozen.items():
            values[name] = np.full(len(gidx), value)


class SensorDrift(Fault):
    kind = "sensor_drift"
    summary = "a pressure sensor's zero drifts: its reading climbs steadily away from the truth"
    roles = (Role.RISER, Role.PUMP_ROOM)
    duration_ms = 6 * _HOUR
    params = params_table({
        "rate_mpa_per_h": Param(None, "drift (default: random 0.02-0.04 MPa/h)"),
    })
    ticket = AlarmKind.SENSOR_FAULT
    has_overlay = True

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.uniform(0.02, 0.04))

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        values["pressure_mpa"] = values["pressure_mpa"] \
            + self.p["rate_mpa_per_h"] * self.elapsed_s(ts) / 3600.0
