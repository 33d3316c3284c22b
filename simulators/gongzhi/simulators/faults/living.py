"""Faults of daily living in an elderly-alone household (``signals.living``): a fall, a trip.
The household's monitor keeps reporting; what changes is the life it records."""

from __future__ import annotations

from gongzhi.core.alarms import AlarmKind
from gongzhi.simulators import living
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults.base import Fault, Sim
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
