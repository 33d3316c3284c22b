"""Faults seen by smoke detectors: fire, a single detector's alarm, cooking smoke, tamper and a
low battery. The detectors' own logic (signals/smoke.py) turns what they measure into
``smoke_alarm`` and ``low_battery`` events."""

from __future__ import annotations

import numpy as np

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.catalogue import DeviceType
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import (
    ALL_ROLES,
    SMOKE_ROLES,
    Fault,
    Param,
    Sim,
    params_table,
    uniform,
)
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


# Fire growth by mode: name -> (low, high, log-uniform). Flaming: NIST's home fire tests
# (nist-smoke-alarms/), whose rooms' ceiling smoke went from 0.2 to 1 dB/m in 20-50 s (a t^2
# coefficient of 1e-4 to 8e-4 dB/m/s^2), peaked at 2-20 dB/m (the detector's range) and warmed
# the ceiling by 15-130 C. Smouldering: slower by one to three orders (0.2 to 1 dB/m in 3-20 min),
# little smoke and a ceiling within 8 C of its start (no 10 C heat rise), the corridor reached
# only after minutes, or not at all.
FIRE_DRAWS: dict[str, dict[str, tuple[float, float, bool]]] = {
    "flaming": {"growth_db_m_s2": (1e-4, 8e-4, True), "peak_db_m": (2.0, 20.0, False),
                "temp_rise_c": (15.0, 130.0, False), "corridor_delay_s": (20.0, 120.0, False),
                "corridor_share": (0.1, 0.8, False)},
    "smouldering": {"growth_db_m_s2": (2e-7, 1e-5, True), "peak_db_m": (0.4, 3.0, False),
                    "temp_rise_c": (0.0, 8.0, False), "corridor_delay_s": (60.0, 1200.0, False),
                    "corridor_share": (0.1, 0.8, False)},
}
FIRE_DURATION_MS = {"flaming": 10 * _MINUTE, "smouldering": 45 * _MINUTE}
SMOULDERING_SHARE = 0.4


class Fire(SmokeFault):
    kind = "fire"
    summary = ("fire in a household, flaming or smouldering: smoke grows (t-squared) in the "
               "household's detector, then in its landing's corridor detector, the temperature "
               "rising with it")
    roles = (Role.HOUSEHOLD_SMOKE,)
    duration_ms = FIRE_DURATION_MS["flaming"]
    params = params_table({
        "mode": Param(None, "flaming or smouldering (default: random, 40 % smouldering)",
                      ("flaming", "smouldering")),
        "growth_db_m_s2": Param(None, "t-squared growth of the household detector's smoke, "
                                      "dB/m per s^2 (default: random by mode)"),
        "peak_db_m": Param(None, "obscuration the household detector reaches (default: random "
                                 "by mode)"),
        "temp_rise_c": Param(None, "temperature rise at the household detector at the peak "
                                   "(default: random by mode)"),
        "corridor_delay_s": Param(None, "seconds before smoke reaches the corridor (default: "
                                        "random by mode)"),
        "corridor_share": Param(None, "corridor obscuration and heat as a share of the "
                                      "household's (default: random 0.1-0.8)"),
    })
    ticket = AlarmKind.FIRE
    also = (AlarmKind.SMOKE_ALARM,)
    mode_param = ("mode", {"flaming": 1 - SMOULDERING_SHARE, "smouldering": SMOULDERING_SHARE})

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return uniform(rng, *FIRE_DRAWS[self.mode][name])

    def default_duration_ms(self) -> int:
        return FIRE_DURATION_MS[str(self.p["mode"])]

    def involved(self, sim: Sim) -> list[int]:
        return [self.target, *sim.same_landing(self.target, (Role.CORRIDOR_SMOKE,))]

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        corridor = gidx != self.target
        delay = np.where(corridor, self.p["corridor_delay_s"], 0.0)
        share = np.where(corridor, self.p["corridor_share"], 1.0)
        t = np.maximum(self.elapsed_s(ts) - delay, 0.0)
        x = np.minimum(self.p["growth_db_m_s2"] * t * t / self.p["peak_db_m"], 1.0)
        values["smoke_db_m"] = np.maximum(values["smoke_db_m"], self.p["peak_db_m"] * share * x)
        values["temp_c"] = values["temp_c"] + self.p["temp_rise_c"] * share * x


class SmokeAlarm(SmokeFault):
    kind = "smoke_alarm"
    summary = "one detector sees smoke above its alarm level (no heat, no second detector)"
    roles = SMOKE_ROLES
    duration_ms = 90_000
    params = params_table({
        "level_db_m": Param(None, "obscuration held during the alarm (default: random "
                                  "0.3-3 dB/m, log-uniform)"),
        "rise_s": Param(None, "seconds to reach it (default: random 2-60 s)"),
    })
    ticket = AlarmKind.SMOKE_ALARM

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return uniform(rng, 0.3, 3.0, True) if name == "level_db_m" else uniform(rng, 2.0, 60.0)

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        level = self.p["level_db_m"] * self.progress(ts, self.p["rise_s"])
        values["smoke_db_m"] = np.maximum(values["smoke_db_m"], level)


class CookingSmoke(SmokeFault):
    kind = "cooking_smoke"
    summary = ("nuisance: cooking smoke or steam, from seconds to minutes, often above the "
               "alarm level, warming the detector by a few degrees (never 10 C)")
    roles = (Role.HOUSEHOLD_SMOKE,)
    duration_ms = 4_000
    params = params_table({
        "duration_s": Param(None, "how long it lasts (default: random 3 s-6 min, "
                                  "log-uniform)"),
        "peak_db_m": Param(None, "its height (default: random 0.05-1 dB/m, log-uniform)"),
        "temp_rise_c": Param(None, "warming at the detector (default: random 0-6 C)"),
        "source": Param("cooking", "what made it", ("cooking", "steam")),
    })

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        if name == "duration_s":
            return uniform(rng, 3.0, 360.0, True)
        if name == "peak_db_m":
            return uniform(rng, 0.05, 1.0, True)
        return uniform(rng, 0.0, 6.0)

    def default_duration_ms(self) -> int:
        return round(float(self.p["duration_s"]) * 1000)

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        # A rise over the first fifth, a plateau, a fall over the last fifth.
        span = max(self.end_ms - self.start_ms, 1)
        x = np.clip((ts - self.start_ms) / span, 0.0, 1.0)
        shape = np.clip(np.minimum(x, 1.0 - x) * 5.0, 0.0, 1.0)
        values["smoke_db_m"] = np.maximum(values["smoke_db_m"], self.p["peak_db_m"] * shape)
        values["temp_c"] = values["temp_c"] + self.p["temp_rise_c"] * shape


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
