"""Faults of daily living in a household (``signals.living``): a fall, a trip (elderly-alone
households), a water leak (households with a water meter). The devices keep reporting; what
changes is the life they record."""

from __future__ import annotations

from gongzhi.core.alarms import AlarmKind
from gongzhi.simulators import living
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import Fault, Param, Sim, params_table
from gongzhi.simulators.outgoing import Outgoing

_HOUR = 3_600_000


class _LivingFault(Fault):
    roles = (Role.HOUSEHOLD_ELECTRICAL,)
    elderly_only = True

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.living.add_fault(self.target, living.Fault(self.kind, self.start_ms, self.end_ms))
        return []


class NoActivity(_LivingFault):
    kind = "no_activity"
    summary = ("a person living alone falls: from then on nothing is switched and no water is "
               "drawn; a light left on stays on (as often as in real homes); the residents' "
               "committee is asked to visit when the household's own rhythm says so (its model "
               "needs 21 learned days first)")
    duration_ms = 48 * _HOUR
    ticket = AlarmKind.WELFARE_CHECK


class Away(_LivingFault):
    kind = "away"
    summary = ("a person living alone goes away (everything off) and comes back at the end: "
               "declared to the residents' committee, it raises no ticket; undeclared, a silence "
               "beyond the household's rhythm is raised as a welfare check")
    duration_ms = 72 * _HOUR
    # Declared absences live on the platform; the simulator does not declare them.
    ticket = None


class WaterLeak(Fault):
    kind = "water_leak"
    summary = ("a household's pipe or cistern leaks: a constant flow adds to its water meter "
               "(a running cistern: 20 L/h); the meter's continuous-flow rule raises it after 3 h")
    roles = (Role.HOUSEHOLD_WATER_METER,)
    duration_ms = 6 * _HOUR
    params = params_table({"litres_per_hour": Param(20.0, "the leak's flow")})
    ticket = AlarmKind.WATER_LEAK

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        sim.living.add_fault(self.target, living.Fault(
            self.kind, self.start_ms, self.end_ms, float(self.p["litres_per_hour"])))
        return []
