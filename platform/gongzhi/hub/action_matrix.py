"""The action matrix: which party may do what to a ticket. Pure data and pure functions.

A party's role on a ticket follows from the ticket, as the duty matrix routed it and escalation
moved it:

- ``assignee``: the duty matrix routed the ticket to it. It moves the ticket through its states.
- ``escalation_target``: an escalation reached it (the acknowledgement deadline passed with the
  previous party of the ticket's chain) and it took the ticket over. It moves the ticket like an
  assignee; the party it took over from is notified from then on.
- ``notified``: it hears of the ticket. It comments, and acknowledges only where the ticket
  touches a duty of its own (``NOTIFIED_DUTIES``). That acknowledgement is recorded in the
  timeline and leaves the ticket with its holder: status, deadlines and escalation unchanged.
- ``supervisor``: the NPC deputies' liaison station on an overdue or escalated ticket. It reads.
- ``unrelated``: the party does not see the ticket at all.

Whether an action the role allows is possible now depends on the ticket's state (``lifecycle``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.errors import AccessDenied, TicketNotFound
from gongzhi.hub.lifecycle import Action, apply_action, possible
from gongzhi.hub.parties import SUPERVISORS, Party
from gongzhi.hub.tickets import Ticket, TimelineEntry


class Role(StrEnum):
    ASSIGNEE = "assignee"
    ESCALATION_TARGET = "escalation_target"
    NOTIFIED = "notified"
    SUPERVISOR = "supervisor"
    UNRELATED = "unrelated"


class Refusal(StrEnum):
    """Why an action is refused (HTTP 403), for machines."""

    READ_ONLY = "read_only"  # supervision reads only
    NOT_ASSIGNEE = "not_assignee"  # only the party holding the ticket does this


@dataclass(frozen=True, slots=True)
class NotifiedDuty:
    """A notified party's own part in tickets of these kinds, which it acknowledges."""

    party: str
    kinds: frozenset[str]
    why: str
    elderly_alone: bool | None = None  # only in households flagged so (None: any)

    def covers(self, ticket: Ticket) -> bool:
        return ticket.kind in self.kinds and (
            self.elderly_alone is None or ticket.elderly_alone is self.elderly_alone)


NOTIFIED_DUTIES: tuple[NotifiedDuty, ...] = (
    NotifiedDuty(Party.POLICE_ROOM, frozenset({AlarmKind.FIRE}),
                 "life safety at a confirmed fire: forced entry, the 119 brigade"),
    NotifiedDuty(Party.POLICE_ROOM, frozenset({AlarmKind.EBIKE_CHARGING}),
                 "enforces the fire rules on repeated indoor charging"),
    NotifiedDuty(Party.RESIDENTS_COMMITTEE, frozenset({AlarmKind.FIRE, AlarmKind.SMOKE_ALARM}),
                 "welfare visit to an elderly person living alone", elderly_alone=True),
    NotifiedDuty(Party.OWNERS_COMMITTEE,
                 frozenset({AlarmKind.WATER_PRESSURE_LOW, AlarmKind.WATER_PRESSURE_HIGH,
                            AlarmKind.WATER_PRESSURE_DROP}),
                 "a maintenance-fund repair of a riser that fails again and again"),
)

# What each role may do, whatever the state; a notified party's acknowledgement is added per
# ticket by NOTIFIED_DUTIES.
ROLE_ACTIONS: Mapping[Role, frozenset[Action]] = MappingProxyType({
    Role.ASSIGNEE: frozenset(Action),
    Role.ESCALATION_TARGET: frozenset(Action),
    Role.NOTIFIED: frozenset({Action.COMMENT}),
    Role.SUPERVISOR: frozenset(),
    Role.UNRELATED: frozenset(),
})

# Roles whose actions move the ticket through its states; the others' are only recorded.
HOLDERS = frozenset({Role.ASSIGNEE, Role.ESCALATION_TARGET})


def role_of(ticket: Ticket, party: str) -> Role:
    if party in SUPERVISORS:
        seen = (party == ticket.assignee or party in ticket.notified
                or ticket.escalation_level > 0 or bool(ticket.breaches))
        return Role.SUPERVISOR if seen else Role.UNRELATED
    if party == ticket.assignee:
        taken_over = party in ticket.chain[1:]
        return Role.ESCALATION_TARGET if taken_over else Role.ASSIGNEE
    if party in ticket.notified:
        return Role.NOTIFIED
    return Role.UNRELATED


def duty_of(ticket: Ticket, party: str) -> NotifiedDuty | None:
    return next((d for d in NOTIFIED_DUTIES if d.party == party and d.covers(ticket)), None)


def permitted(ticket: Ticket, party: str, role: Role | None = None) -> frozenset[Action]:
    """What ``party`` may do to ``ticket`` by its role, whatever the ticket's state."""
    role = role or role_of(ticket, party)
    granted = ROLE_ACTIONS[role]
    if role is Role.NOTIFIED and duty_of(ticket, party) is not None:
        granted = granted | {Action.ACK}
    return granted


def allowed_actions(ticket: Ticket, party: str) -> list[Action]:
    """What ``party`` can do to ``ticket`` now, in the order of ``Action``."""
    role = role_of(ticket, party)
    granted = permitted(ticket, party, role)
    return [a for a in Action if a in granted and possible(ticket, a, moves=role in HOLDERS)]


def _refused(ticket: Ticket, party: str, action: Action, role: Role) -> AccessDenied:
    if role is Role.SUPERVISOR:
        return AccessDenied(Refusal.READ_ONLY,
                            f"{party} supervises: it reads tickets and acts on none")
    holder = f"ticket {ticket.id} is held by {ticket.assignee}"
    if action is Action.ACK:
        return AccessDenied(Refusal.NOT_ASSIGNEE,
                            f"{holder}; {party} is notified and has no part of its own in a "
                            f"{ticket.kind} ticket to acknowledge")
    return AccessDenied(Refusal.NOT_ASSIGNEE,
                        f"{holder}, which alone may {action.value} it; {party} is notified "
                        "and may comment")


def act(ticket: Ticket, party: str, action: Action, note: str | None,
        now: int) -> tuple[Ticket, TimelineEntry]:
    """The action of ``party``: ``TicketNotFound`` when it does not see the ticket,
    ``AccessDenied`` with the reason when its role does not allow the action, and
    ``IllegalTransition`` when the ticket's state does not."""
    role = role_of(ticket, party)
    if role is Role.UNRELATED:
        raise TicketNotFound(f"no ticket {ticket.id}")
    if action not in permitted(ticket, party, role):
        raise _refused(ticket, party, action, role)
    return apply_action(ticket, action, party, note, now, moves=role in HOLDERS,
                        role=role.value)
