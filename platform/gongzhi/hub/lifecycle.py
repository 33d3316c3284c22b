"""Ticket states and the actions that move them. Pure: an action on a ticket gives the changed
ticket and its timeline entry, or ``IllegalTransition`` with the reason (HTTP 409). Who may take
which action is the action matrix's (``gongzhi.hub.action_matrix``)."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from gongzhi.core.errors import IllegalTransition
from gongzhi.hub.tickets import ACTIVE, CLOSED, EntryType, Status, Ticket, TimelineEntry


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

# What a party that does not hold the ticket may record (never moving it): its own
# acknowledgement while the ticket is active, comments always.
RECORDS: dict[Action, frozenset[Status]] = {
    Action.ACK: ACTIVE,
    Action.COMMENT: frozenset(Status),
}

MAX_NOTE = 2000


def possible(ticket: Ticket, action: Action, *, moves: bool = True) -> bool:
    """Whether the ticket's state admits ``action``: as a move of the party that holds it, or
    (``moves=False``) as a record of a party that does not."""
    sources = TRANSITIONS[action][0] if moves else RECORDS.get(action, frozenset())
    return ticket.status in sources


def _refusal(ticket: Ticket, action: Action) -> str:
    if ticket.status in CLOSED:
        return f"ticket {ticket.id} is already {ticket.status.value}; only comments are possible"
    if action is Action.ACK:
        return f"ticket {ticket.id} is already {ticket.status.value}"
    if action is Action.RESOLVE and ticket.status is Status.OPEN:
        return f"ticket {ticket.id} is open: acknowledge it before resolving"
    return f"cannot {action.value} ticket {ticket.id} while it is {ticket.status.value}"


def apply_action(ticket: Ticket, action: Action, actor: str, note: str | None, now: int, *,
                 moves: bool = True, role: str | None = None) -> tuple[Ticket, TimelineEntry]:
    """``moves=False`` records the action (an acknowledgement of a notified party's own part,
    a comment) and leaves the ticket's state, deadlines and acknowledgement time as they are.
    ``role`` is the actor's role on the ticket, kept in the timeline entry."""
    if not possible(ticket, action, moves=moves):
        raise IllegalTransition(_refusal(ticket, action))
    target = TRANSITIONS[action][1] if moves else None
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
    data = {"from": ticket.status.value, "to": changed.status.value}
    entry = TimelineEntry(
        ts_ms=now, type=EntryType.ACTION, actor=actor, action=action.value,
        note=(note or None) and note[:MAX_NOTE],
        data=data if role is None else {**data, "role": role},
    )
    return changed, entry
