"""Faults of household circuits and landing distribution boxes. They act on the electrical
model's inputs, so current, power and cable temperature stay physically consistent (an
over-current heats the cable with the model's thermal lag)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from gongzhi.core.alarms import AlarmKind
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import (
    ELECTRICAL_ROLES,
    Fault,
    Param,
    Sim,
    params_table,
    uniform,
)
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.outgoing import Outgoing
from gongzhi.simulators.signals.daily import FloatArray, IntArray
from gongzhi.simulators.signals.electrical import charger_power_w

_MINUTE = 60_000

# Charger draws by kind: name -> (low, high). 48v: the real 48 V chargers of ebike-chargers/
# (a plateau of 98-112 W for about 1.5 h, then a taper to a few watts over 1.5-2 h); any: the
# 100-400 W, 1-5 h span of chargers on sale.
CHARGER_DRAWS: dict[str, dict[str, tuple[float, float]]] = {
    "48v": {"power_w": (95.0, 115.0), "cc_h": (1.2, 1.8), "taper_h": (1.5, 2.0)},
    "any": {"power_w": (100.0, 400.0), "cc_h": (0.6, 3.5), "taper_h": (0.4, 1.5)},
}


class ElectricalFault(Fault):
    roles: ClassVar[tuple[Role, ...]] = ELECTRICAL_ROLES
    has_inputs = True

    def locals_(self, sim: Sim, gidx: IntArray) -> IntArray:
        return np.array([sim.local(int(g)) for g in gidx], dtype=np.int64)


class LeakageRising(ElectricalFault):
    kind = "leakage_rising"
    summary = "insulation takes in moisture: residual current climbs past 300 mA"
    duration_ms = 6 * _MINUTE
    params = params_table({
        "peak_ma": Param(None, "residual current reached (default: random 380-650 mA)"),
        "rise_s": Param(60.0, "seconds to reach it"),
    })
    ticket = AlarmKind.ELECTRICAL_LEAKAGE

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.uniform(380.0, 650.0))

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        base = sim.electrical.leak_base_ma[self.locals_(sim, gidx)]
        inputs["extra_leak_ma"] = np.maximum(self.p["peak_ma"] - base, 0.0) \
            * self.progress(ts, self.p["rise_s"])


class LooseTerminal(ElectricalFault):
    kind = "loose_terminal"
    summary = ("a loose terminal heats at its contact resistance: the cable temperature climbs "
               "(with the thermal lag) past 70 °C")
    duration_ms = 45 * _MINUTE
    params = params_table({
        "rise_c": Param(None, "extra steady heating (default: random 50-70 °C)"),
    })
    ticket = AlarmKind.CABLE_OVERHEAT

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.uniform(50.0, 70.0))

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        inputs["terminal_rise_c"] = np.full(len(gidx), self.p["rise_c"])


class Overcurrent(ElectricalFault):
    kind = "overcurrent"
    summary = "a household draws more than its breaker rating (heater + oven + air-con)"
    roles = (Role.HOUSEHOLD_ELECTRICAL,)
    duration_ms = 4 * _MINUTE
    params = params_table({
        "multiple": Param(None, "current over the rating (default: random 1.15-1.4)"),
    })
    ticket = AlarmKind.OVERCURRENT
    also = (AlarmKind.CABLE_OVERHEAT,)

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.uniform(1.15, 1.4))

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        rated = sim.electrical.rated_a[self.locals_(sim, gidx)]
        inputs["min_current_a"] = rated * self.p["multiple"]


class VoltageSag(ElectricalFault):
    kind = "voltage_sag"
    summary = ("mains voltage sags below 187 V (a loose neutral on one circuit, or the "
               "building's supply with scope: building)")
    duration_ms = 3 * _MINUTE
    params = params_table({
        "level_v": Param(None, "voltage held (default: random 170-182 V)"),
        "scope": Param("device", "one circuit or every circuit of the building",
                       ("device", "building")),
    })
    ticket = AlarmKind.VOLTAGE_ABNORMAL

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.uniform(170.0, 182.0))

    def involved(self, sim: Sim) -> list[int]:
        if self.p["scope"] == "building":
            return [self.target, *(g for g in sim.in_building(self.target, ELECTRICAL_ROLES)
                                   if g != self.target)]
        return [self.target]

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        inputs["voltage_v"] = np.full(len(gidx), self.p["level_v"])

    def truth(self, sim: Sim) -> list[TruthRecord]:
        return [self.truth_line(sim, sim.record(int(g)), self.ticket) for g in self.devices]


class EbikeCharging(ElectricalFault):
    kind = "ebike_charging"
    summary = ("an e-bike charged indoors: a 100-400 W step held for hours, constant current "
               "then a tapering constant-voltage stage, 1-5 h in all")
    duration_ms = 5 * 60 * _MINUTE
    params = params_table({
        "charger": Param(None, "48v: a real 48 V charger's curve (about 100 W, 1.2-1.8 h then "
                               "a 1.5-2 h taper); any: 100-400 W, 1-5 h (default: random, "
                               "30 % 48v)", ("48v", "any")),
        "power_w": Param(None, "charger power (default: random by charger)"),
        "cc_h": Param(None, "hours of the constant-current stage (default: random by "
                            "charger)"),
        "taper_h": Param(None, "hours of the constant-voltage taper (default: random by "
                               "charger)"),
    })
    ticket = AlarmKind.EBIKE_CHARGING
    # A household's charger shows on its landing's distribution box too (it feeds the
    # household): the same ticket kind may come from there.
    also = (AlarmKind.EBIKE_CHARGING,)
    mode_param = ("charger", {"48v": 0.3, "any": 0.7})

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        low, high = CHARGER_DRAWS[self.mode][name]
        return uniform(rng, low, high)

    def involved(self, sim: Sim) -> list[int]:
        if sim.role(self.target) is Role.HOUSEHOLD_ELECTRICAL:
            return [self.target, *sim.same_landing(self.target, (Role.CORRIDOR_ELECTRICAL,))]
        return [self.target]

    def default_duration_ms(self) -> int:
        return round(float(self.p["cc_h"] + self.p["taper_h"]) * 3_600_000)

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        charger = charger_power_w(
            self.elapsed_s(ts), np.asarray(self.p["power_w"]),
            np.asarray(self.p["cc_h"] * 3600.0), np.asarray(self.p["taper_h"] * 3600.0))
        # Only on the circuit it is plugged into; the landing sums its households itself.
        inputs["extra_w"] = inputs["extra_w"] + charger * (gidx == self.target)


class ArcFault(ElectricalFault):
    kind = "arc_fault"
    has_inputs = False
    summary = "the monitor counts arc half-cycles (a damaged cable) and sends arc_fault"
    duration_ms = 0
    params = params_table({
        "half_cycles": Param(None, "half-cycles counted in 1 s (default: random 14-40)"),
    })
    ticket = AlarmKind.ARC_FAULT

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        return float(rng.integers(14, 41))

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        return [sim.event(self.target, t_ms, "arc_fault",
                          {"half_cycles": int(self.p["half_cycles"])})]
