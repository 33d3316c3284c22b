"""Escalation: given a ticket and the time, the steps its missed deadlines call for. Pure.

- an unacknowledged ticket of a converting kind changes kind when its time is up (a smoke alarm
  nobody verified in 3 minutes is a fire, routed again: the police room hears of it);
- an acknowledgement deadline passes while the ticket is open: the next party of the escalation
  chain takes it (with a fresh deadline); at the end of the chain the deadline is missed;
- a missed deadline makes the ticket overdue: the parties of the overdue policy hear of critical
  and major tickets, and the NPC liaison station can see it.

Steps are applied in the order they fell due, each stamped with when it was due, so a service
that was down catches up with the same result it would have had on time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from gongzhi.core.alarms import AlarmKind
from gongzhi.hub.duty import DutyMatrix
from gongzhi.hub.routing import route
from gongzhi.hub.tickets import (
    EntryType,
    Stage,
    Status,
    Ticket,
    TimelineEntry,
    facts_of,
    plus,
)

MAX_STEPS = 32  # a bound, not a limit that matters: each step consumes a deadline


class StepKind(StrEnum):
    CONVERT = "convert"
    REASSIGN = "reassign"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    due_at: int
    rule_id: str
    stage: str | None = None
    from_party: str | None = None
    to_party: str | None = None
    added: tuple[str, ...] = ()
    from_kind: str | None = None
    to_kind: str | None = None

    def entry(self, now: int) -> TimelineEntry:
        data: dict[str, Any] = {"step": self.kind.value, "due_at": self.due_at,
                                "applied_at": now}
        for name in ("stage", "from_party", "to_party", "from_kind", "to_kind"):
            if (value := getattr(self, name)) is not None:
                data[name] = value
        if self.added:
            data["notified"] = list(self.added)
        return TimelineEntry(ts_ms=self.due_at, type=EntryType.ESCALATION, actor="system",
                             action=self.kind.value, rule_id=self.rule_id, data=data)


@dataclass(frozen=True, slots=True)
class Escalation:
    before: Ticket
    after: Ticket
    steps: tuple[Step, ...]


def _with_notified(ticket: Ticket, parties: Iterable[str]) -> tuple[Ticket, tuple[str, ...]]:
    added = tuple(p for p in dict.fromkeys(parties)
                  if p != ticket.assignee and p not in ticket.notified)
    return replace(ticket, notified=(*ticket.notified, *added)), added


def _convert(ticket: Ticket, matrix: DutyMatrix, due: int) -> tuple[Ticket, Step]:
    assert ticket.convert_to is not None
    decision = route(matrix, facts_of(ticket, ticket.convert_to, due), {})
    chosen = matrix.route_by_id(decision.route_id)
    conversion = chosen.convert if chosen else None
    changed = replace(
        ticket, kind=AlarmKind(decision.kind), severity=decision.severity,
        assignee=decision.assignee, chain=decision.chain, route_id=decision.route_id,
        converted_from=ticket.kind, breaches=(),
        ack_due_at=plus(due, decision.sla.ack_ms),
        on_site_due_at=plus(due, decision.sla.on_site_ms),
        resolve_due_at=plus(due, decision.sla.resolve_ms),
        convert_at=plus(due, conversion.after_ms) if conversion else None,
        convert_to=AlarmKind(conversion.to_kind) if conversion else None,
        escalation_level=ticket.escalation_level + 1,
    )
    earlier = [ticket.assignee] if ticket.assignee != decision.assignee else []
    changed, added = _with_notified(changed, [*earlier, *decision.notified])
    return changed, Step(StepKind.CONVERT, due, decision.route_id, added=added,
                         from_kind=ticket.kind, to_kind=decision.kind,
                         from_party=ticket.assignee, to_party=decision.assignee)


def _missed(ticket: Ticket, stage: Stage, due: int, matrix: DutyMatrix) -> tuple[Ticket, Step]:
    chain = ticket.chain
    position = chain.index(ticket.assignee) if ticket.assignee in chain else -1
    chosen = matrix.route_by_id(ticket.route_id)
    ack_span = chosen.sla.ack_ms if chosen else None
    if stage is Stage.ACK and position + 1 < len(chain) and ack_span is not None:
        successor = chain[position + 1]
        changed = replace(ticket, assignee=successor, ack_due_at=due + ack_span,
                          escalation_level=ticket.escalation_level + 1,
                          notified=tuple(p for p in ticket.notified if p != successor))
        changed, added = _with_notified(changed, [ticket.assignee])
        return changed, Step(StepKind.REASSIGN, due, ticket.route_id, stage=stage.value,
                             from_party=ticket.assignee, to_party=successor, added=added)
    changed = replace(ticket, breaches=(*ticket.breaches, stage.value),
                      escalation_level=ticket.escalation_level + 1)
    policy = matrix.overdue
    heard: tuple[str, ...] = ()
    if ticket.severity in policy.severities:
        changed, heard = _with_notified(changed, policy.notify)
    return changed, Step(StepKind.OVERDUE, due, policy.rule_id, stage=stage.value, added=heard)


def _next(ticket: Ticket, now: int, matrix: DutyMatrix) -> tuple[Ticket, Step] | None:
    candidates: list[tuple[int, int, Stage | None]] = [
        (due, order, stage) for order, (stage, due) in enumerate(ticket.pending_deadlines())]
    if ticket.status is Status.OPEN and ticket.convert_at is not None and ticket.convert_to:
        candidates.append((ticket.convert_at, -1, None))
    if not candidates:
        return None
    due, _, stage = min(candidates, key=lambda c: (c[0], c[1]))
    if due > now:
        return None
    if stage is None:
        return _convert(ticket, matrix, due)
    return _missed(ticket, stage, due, matrix)


def escalate(ticket: Ticket, now: int, matrix: DutyMatrix) -> Escalation | None:
    """Every step due by ``now``, in order; None when nothing is due."""
    if not ticket.active:
        return None
    current = ticket
    steps: list[Step] = []
    for _ in range(MAX_STEPS):
        found = _next(current, now, matrix)
        if found is None:
            break
        current, step = found
        steps.append(step)
    return Escalation(ticket, current, tuple(steps)) if steps else None


def plan(tickets: Iterable[Ticket], now: int, matrix: DutyMatrix) -> list[Escalation]:
    return [e for t in tickets if (e := escalate(t, now, matrix)) is not None]
