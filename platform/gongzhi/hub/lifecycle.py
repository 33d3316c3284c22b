"""Ticket states and the actions that move them. Pure: an action on a ticket gives the changed
ticket and its timeline entry, or ``IllegalTransition`` with the reason (HTTP 409)."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from gongzhi.core.errors import AccessDenied, IllegalTransition
from gongzhi.hub.parties import Party
from gongzhi.hub.tickets import CLOSED, EntryType, Status, Ticket, TimelineEntry


class Action(StrEnum):
    ACK = "ack"
    DISPATCH = "dispatch"
    ARRIVE = "arrive"
    RESOLVE = "resolve"
    FALSE_ALARM = "false_alarm"
    COMMENT = "comment"


# Action → (states it may start from, state it leads to). Comments change no state.
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.ACK: (frozenset({Status.OPEN}), Status.ACKNOWLEDGED),
    Action.DISPATCH: (frozenset({Status.OPEN, Status.ACKNOWLEDGED}), Status.DISPATCHED),
    Action.ARRIVE: (frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.DISPATCHED}),
                    Status.ON_SITE),
    Action.RESOLVE: (frozenset({Status.ACKNOWLEDGED, Status.DISPATCHED, Status.ON_SITE}),
                     Status.RESOLVED),
    Action.FALSE_ALARM: (frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.DISPATCHED,
                                    Status.ON_SITE}), Status.FALSE_ALARM),
    Action.COMMENT: (frozenset(Status), None),
}

# Supervision only: the NPC deputies' liaison station reads, it does not handle tickets.
READ_ONLY_PARTIES = frozenset({Party.NPC_LIAISON.value})

MAX_NOTE = 2000


def allowed_actions(ticket: Ticket) -> list[Action]:
    return [a for a, (sources, _) in TRANSITIONS.items() if ticket.status in sources]


def _refusal(ticket: Ticket, action: Action) -> str:
    if ticket.status in CLOSED:
        return f"ticket {ticket.id} is already {ticket.status.value}; only comments are possible"
    if action is Action.ACK:
        return f"ticket {ticket.id} is already {ticket.status.value}"
    if action is Action.RESOLVE and ticket.status is Status.OPEN:
        return f"ticket {ticket.id} is open: acknowledge it before resolving"
    return f"cannot {action.value} ticket {ticket.id} while it is {ticket.status.value}"


def apply_action(ticket: Ticket, action: Action, actor: str, note: str | None,
                 now: int) -> tuple[Ticket, TimelineEntry]:
    if actor in READ_ONLY_PARTIES:
        raise AccessDenied(f"{actor} has read-only access to tickets")
    sources, target = TRANSITIONS[action]
    if ticket.status not in sources:
        raise IllegalTransition(_refusal(ticket, action))
    changed = ticket
    if target is not None:
        changed = replace(changed, status=target)
        if ticket.acknowledged_at is None:
            changed = replace(changed, acknowledged_at=now)
        if target is Status.ON_SITE:
            changed = replace(changed, on_site_at=now)
        if target in CLOSED:
            changed = replace(changed, closed_at=now, open_key=None)
    changed = replace(changed, updated_at=now)
    entry = TimelineEntry(
        ts_ms=now, type=EntryType.ACTION, actor=actor, action=action.value,
        note=(note or None) and note[:MAX_NOTE],
        data={"from": ticket.status.value, "to": changed.status.value},
    )
    return changed, entry
