"""Faults seen by smoke detectors: fire, a single detector's alarm, cooking smoke, tamper and a
low battery. The detectors' own logic (signals/smoke.py) turns what they measure into
``smoke_alarm`` and ``low_battery`` events."""

from __future__ import annotations

import numpy as np

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.catalogue import DeviceType
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import ALL_ROLES, SMOKE_ROLES, Fault, Param, Sim, params_table
from gongzhi.simulators.outgoing import Outgoing
from gongzhi.simulators.signals.daily import FloatArray, IntArray

_MINUTE = 60_000


class SmokeFault(Fault):
    """A fault during which its detectors report every second (an incident in progress)."""

    fast_report = True
    has_overlay = True

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        for g in self.devices:
            sim.report_now(int(g), t_ms)
        return []


class Fire(SmokeFault):
    kind = "fire"
    summary = ("fire in a household: smoke grows (t-squared) in the household's detector, then "
               "in its landing's corridor detector, with the temperature rising")
    roles = (Role.HOUSEHOLD_SMOKE,)
    duration_ms = 10 * _MINUTE
    params = params_table({
        "peak_db_m": Param(4.0, "obscuration the household detector reaches"),
        "growth_s": Param(240.0, "seconds from ignition to the peak"),
        "corridor_delay_s": Param(60.0, "seconds before smoke reaches the corridor"),
        "corridor_share": Param(0.5, "corridor obscuration as a share of the household's"),
        "temp_rise_c": Param(40.0, "temperature rise at the household detector"),
    })
    ticket = AlarmKind.FIRE
    also = (AlarmKind.SMOKE_ALARM,)

    def involved(self, sim: Sim) -> list[int]:
        return [self.target, *sim.same_landing(self.target, (Role.CORRIDOR_SMOKE,))]

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        corridor = gidx != self.target
        delay = np.where(corridor, self.p["corridor_delay_s"], 0.0)
        share = np.where(corridor, self.p["corridor_share"], 1.0)
        x = np.clip((self.elapsed_s(ts) - delay) / self.p["growth_s"], 0.0, 1.0) ** 2
        values["smoke_db_m"] = np.maximum(values["smoke_db_m"], self.p["peak_db_m"] * share * x)
        values["temp_c"] = values["temp_c"] + self.p["temp_rise_c"] * share * x


class SmokeAlarm(SmokeFault):
    kind = "smoke_alarm"
    summary = "one detector sees smoke above its alarm level (no heat, no second detector)"
    roles = SMOKE_ROLES
    duration_ms = 90_000
    params = params_table({
        "level_db_m": Param(0.6, "obscuration held during the alarm"),
        "rise_s": Param(10.0, "seconds to reach it"),
    })
    ticket = AlarmKind.SMOKE_ALARM

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        level = self.p["level_db_m"] * self.progress(ts, self.p["rise_s"])
        values["smoke_db_m"] = np.maximum(values["smoke_db_m"], level)


class CookingSmoke(SmokeFault):
    kind = "cooking_smoke"
    summary = ("false-alarm material: a short smoke or steam spike (under 5 s above the alarm "
               "level), no temperature rise")
    roles = (Role.HOUSEHOLD_SMOKE,)
    duration_ms = 4_000
    params = params_table({
        "peak_db_m": Param(None, "spike height (default: random 0.12-0.35 dB/m)"),
        "source": Param("cooking", "what made it", ("cooking", "steam")),
    })

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.uniform(0.12, 0.35))

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        span = max(self.end_ms - self.start_ms, 1)
        x = np.clip((ts - self.start_ms) / span, 0.0, 1.0)
        values["smoke_db_m"] = np.maximum(values["smoke_db_m"],
                                          self.p["peak_db_m"] * (1.0 - np.abs(2.0 * x - 1.0)))


class Tamper(Fault):
    kind = "tamper"
    summary = "a device is removed from its base or its cover opened: a tamper event"
    roles = ALL_ROLES
    duration_ms = 0
    ticket = AlarmKind.TAMPER

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        cause = "removed_from_base" if sim.record(self.target).type is DeviceType.SMOKE \
            else "cover_opened"
        return [sim.event(self.target, t_ms, "tamper", {"cause": cause})]


class LowBattery(Fault):
    kind = "low_battery"
    summary = "a detector's battery reads at or below 20 %: it reports it and sends low_battery"
    roles = SMOKE_ROLES
    duration_ms = 24 * 60 * _MINUTE
    params = params_table({"battery_pct": Param(None, "battery level (default: random 12-19 %)")})
    ticket = AlarmKind.LOW_BATTERY

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.integers(12, 20))

    has_inputs = True

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.report_now(self.target, t_ms)
        return []

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        # Until the fault ends: the battery is replaced.
        inputs["battery_pct"] = np.full(len(gidx), self.p["battery_pct"])
