"""Re-notification: an unacknowledged ticket is told again every repeat interval of its severity,
first to the people on duty for the party holding it, then along the chain — the party's backup
people, its leader, then the people on duty of each next party of the ticket's escalation chain —
until someone acknowledges it.

Attempt ``n`` of a ticket falls due at ``opened_at + n * every`` (attempt 0 is the first
notification, when the ticket opens). Only the latest due attempt is made: after an outage the
platform tells the people now, once, rather than replaying every attempt it missed. Who is told
is decided at the attempt, by the roster then (a hand-over at 20:00 moves the next attempt to
the night guard). Pure functions; ``Renotifier`` (``renotify_task``) applies them to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gongzhi.hub.notify.roster import Channel, Person, Rosters, channels_for, duty_at
from gongzhi.hub.tickets import Status, Ticket


class StepKind(StrEnum):
    ON_DUTY = "on_duty"  # the holding party's people on duty now
    BACKUP = "backup"  # its backup people
    LEADER = "leader"  # its leader
    NEXT_PARTY = "next_party"  # the people on duty of the next party of the ticket's chain


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    party: str
    people: tuple[Person, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One person told on their channels (in order: the first that works)."""

    party: str
    person: Person
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class Attempt:
    ticket_id: int
    number: int  # 0: the first notification
    step: StepKind | None  # None: nobody could be found to tell
    party: str
    deliveries: tuple[Delivery, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.number, "step": self.step.value if self.step else None,
                "party": self.party,
                "to": [{"party": d.party, "person": d.person.id, "name": d.person.name,
                        "channels": list(d.channels)} for d in self.deliveries]}


def waiting(ticket: Ticket) -> bool:
    """Still waiting for an acknowledgement: re-notification goes on."""
    return ticket.status is Status.OPEN and ticket.acknowledged_at is None


def latest_due(ticket: Ticket, rosters: Rosters, now: int) -> int | None:
    """The number of the latest attempt due at ``now`` (None before the first, or when the
    ticket no longer waits). A severity without a repeat interval has only attempt 0."""
    if not waiting(ticket) or now < ticket.opened_at:
        return None
    repeat = rosters.renotify.get(str(ticket.severity))  # type: ignore[call-overload]
    if repeat is None:
        return 0
    return int((now - ticket.opened_at) // repeat.every_ms)


def next_due_at(ticket: Ticket, rosters: Rosters, done: int) -> int | None:
    """When attempt ``done + 1`` falls due (None: never)."""
    repeat = rosters.renotify.get(str(ticket.severity))  # type: ignore[call-overload]
    if repeat is None or not waiting(ticket):
        return None
    return int(ticket.opened_at + (done + 1) * repeat.every_ms)


def chain_steps(ticket: Ticket, rosters: Rosters, at_ms: int) -> list[Step]:
    """The steps of the chain at ``at_ms``, empty ones left out."""
    steps: list[Step] = []
    holder = ticket.assignee
    roster = rosters.parties.get(holder)
    steps.append(Step(StepKind.ON_DUTY, holder, duty_at(rosters, holder, at_ms).people))
    if roster is not None:
        backup = tuple(p for pid in roster.backup if (p := roster.person(pid)) is not None)
        steps.append(Step(StepKind.BACKUP, holder, backup))
        leader = roster.person(roster.leader) if roster.leader else None
        steps.append(Step(StepKind.LEADER, holder, (leader,) if leader else ()))
    chain = list(ticket.chain)
    after = chain[chain.index(holder) + 1:] if holder in chain else []
    for party in after:
        steps.append(Step(StepKind.NEXT_PARTY, party, duty_at(rosters, party, at_ms).people))
    return [s for s in steps if s.people]


def plan(ticket: Ticket, rosters: Rosters, number: int, at_ms: int) -> Attempt:
    """Who attempt ``number`` of ``ticket`` goes to at ``at_ms``: ``per_step`` attempts to each
    step, the last step again and again. The first (``number`` 0) also tells the people on duty
    of the parties notified of the ticket; reminders go along the holder's chain only."""
    steps = chain_steps(ticket, rosters, at_ms)
    repeat = rosters.renotify.get(str(ticket.severity))  # type: ignore[call-overload]
    per_step = repeat.per_step if repeat is not None else 1
    step = steps[min(number // per_step, len(steps) - 1)] if steps else None
    holder = step.party if step else ticket.assignee
    told = [(holder, person) for person in (step.people if step else ())]
    if number == 0:  # the first notification also reaches the parties notified of the ticket
        told += [(party, person) for party in ticket.notified if party != holder
                 for person in duty_at(rosters, party, at_ms).people]
    severity = str(ticket.severity)
    deliveries = tuple(Delivery(party, person, channels_for(rosters, party, severity, person))
                       for party, person in told)
    return Attempt(ticket.id, number, step.kind if step else None, holder, deliveries)
