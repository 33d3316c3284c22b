"""The ticket: what the platform keeps for one anomaly until it is closed. Pure data and the pure
functions that open one from a routing decision and say when it is due."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.registry import Location
from gongzhi.hub.duty import DutyMatrix, Severity
from gongzhi.hub.routing import AlarmFacts, Decision


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


CLOSED = frozenset({Status.RESOLVED, Status.FALSE_ALARM})
ACTIVE = frozenset(Status) - CLOSED


class Stage(StrEnum):
    """A deadline of the SLA."""

    ACK = "ack"
    ON_SITE = "on_site"
    RESOLVE = "resolve"


# Which deadlines still matter in each state, in the order they fall due.
_STAGES: dict[Status, tuple[Stage, ...]] = {
    Status.OPEN: (Stage.ACK, Stage.ON_SITE, Stage.RESOLVE),
    Status.ACKNOWLEDGED: (Stage.ON_SITE, Stage.RESOLVE),
    Status.DISPATCHED: (Stage.ON_SITE, Stage.RESOLVE),
    Status.ON_SITE: (Stage.RESOLVE,),
    Status.RESOLVED: (),
    Status.FALSE_ALARM: (),
}


class EntryType(StrEnum):
    ALARM = "alarm"  # an alarm (first or repeated occurrence)
    CLEAR = "clear"  # the condition went away (the ticket stays open)
    ROUTING = "routing"  # a decision of the duty matrix, with its rule ids
    ACTION = "action"  # a party acted
    ESCALATION = "escalation"  # a deadline passed
    NOTIFICATION = "notification"  # people told (a message's outcome, an attempt, a silence)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    ts_ms: int
    type: EntryType
    actor: str  # a party id, "gateway" or "system"
    action: str | None = None
    note: str | None = None
    rule_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    kind: AlarmKind
    severity: Severity
    status: Status
    assignee: str
    notified: tuple[str, ...]
    chain: tuple[str, ...]
    device_id: str
    location: Location
    elderly_alone: bool
    household: str | None
    riser: str | None
    phone: str | None
    opened_at: int
    first_seen: int
    last_seen: int
    updated_at: int
    occurrences: int
    route_id: str
    ack_due_at: int | None
    on_site_due_at: int | None
    resolve_due_at: int | None
    convert_at: int | None = None
    convert_to: AlarmKind | None = None
    breaches: tuple[str, ...] = ()
    escalation_level: int = 0
    acknowledged_at: int | None = None
    on_site_at: int | None = None
    closed_at: int | None = None
    converted_from: AlarmKind | None = None
    # "<device_id>|<kind>" while the ticket is active: repeated alarms join it. None once closed.
    open_key: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # The ticket whose incident this one belongs to (a fire on the floor, a building offline).
    incident_id: int | None = None
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def overdue(self) -> bool:
        return self.active and bool(self.breaches)

    def deadline(self, stage: Stage) -> int | None:
        return {Stage.ACK: self.ack_due_at, Stage.ON_SITE: self.on_site_due_at,
                Stage.RESOLVE: self.resolve_due_at}[stage]

    def pending_deadlines(self) -> list[tuple[Stage, int]]:
        """Deadlines of the current state that have not been missed yet, earliest first."""
        found = [(s, d) for s in _STAGES[self.status]
                 if (d := self.deadline(s)) is not None and s.value not in self.breaches]
        return sorted(found, key=lambda item: item[1])

    @property
    def due_at(self) -> int | None:
        pending = self.pending_deadlines()
        return pending[0][1] if pending else None

    @property
    def next_check_at(self) -> int | None:
        """When the escalation engine must look at this ticket next."""
        times = [d for _, d in self.pending_deadlines()]
        if self.status is Status.OPEN and self.convert_at is not None:
            times.append(self.convert_at)
        return min(times) if times else None


def open_key(device_id: str, kind: str) -> str:
    return f"{device_id}|{kind}"


def plus(base: int, span: int | None) -> int | None:
    return None if span is None else base + span


def new_ticket(decision: Decision, facts: AlarmFacts, matrix: DutyMatrix, *, location: Location,
               phone: str | None, evidence: Mapping[str, Any], now: int) -> Ticket:
    """A ticket as routing decided it; deadlines count from when the platform opened it."""
    chosen = matrix.route_by_id(decision.route_id)
    conversion = chosen.convert if chosen else None
    return Ticket(
        id=0,
        kind=AlarmKind(decision.kind),
        severity=decision.severity,
        status=Status.OPEN,
        assignee=decision.assignee,
        notified=decision.notified,
        chain=decision.chain,
        device_id=facts.device_id,
        location=location,
        elderly_alone=facts.elderly_alone,
        household=facts.household,
        riser=facts.riser,
        phone=phone,
        opened_at=now,
        first_seen=facts.ts_ms,
        last_seen=facts.ts_ms,
        updated_at=now,
        occurrences=1,
        route_id=decision.route_id,
        ack_due_at=plus(now, decision.sla.ack_ms),
        on_site_due_at=plus(now, decision.sla.on_site_ms),
        resolve_due_at=plus(now, decision.sla.resolve_ms),
        convert_at=plus(now, conversion.after_ms) if conversion else None,
        convert_to=AlarmKind(conversion.to_kind) if conversion else None,
        open_key=open_key(facts.device_id, decision.kind),
        evidence=dict(evidence),
    )


def widen(ticket: Ticket, decision: Decision) -> Ticket | None:
    """A repeated alarm routed again: add any newly notified party (e.g. the 3rd e-bike event
    brings in the police room). None when nothing changes: routing never takes a party away."""
    extra = [p for p in (decision.assignee, *decision.notified)
             if p != ticket.assignee and p not in ticket.notified]
    if not extra:
        return None
    return replace(ticket, notified=(*ticket.notified, *extra))


def facts_of(ticket: Ticket, kind: str, ts_ms: int) -> AlarmFacts:
    """Routing facts from a ticket (used when a ticket changes kind)."""
    return AlarmFacts(kind=kind, device_id=ticket.device_id,
                      estate_id=ticket.location.estate_id,
                      building=ticket.location.building or None,
                      elderly_alone=ticket.elderly_alone, household=ticket.household,
                      riser=ticket.riser, ts_ms=ts_ms)
