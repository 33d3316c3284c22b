"""The SLA statistic (pure): the one definition of SLA compliance and response times that every
figure shown to a party uses (``/api/stats`` and the supervision view); docs/sla.md explains it.

Which tickets count: the caller picks them, by the day they were opened. Each counted ticket has
one SLA outcome at ``now``:

- **breached**: a deadline was missed. The escalation engine recorded a missed deadline or acted
  on the ticket (``escalation_level > 0``: a hand-over to the next party, an unverified smoke
  alarm), or, for a ticket still open, its next deadline has passed unmet even before the engine
  looked at it.
- **met**: closed (resolved or a false alarm) without missing any deadline.
- **pending**: still open, no deadline missed yet: within the SLA, outcome not known. Pending
  tickets count neither for nor against compliance, so a fresh alarm does not move the figure.

``sla_compliance = met / (met + breached)``, or None when no outcome is known yet.

Response times: time to acknowledge (acknowledged_at - opened_at) over the acknowledged tickets;
time to resolve (closed_at - opened_at) over the resolved ones (false alarms excluded). Each is
given as its median and 90th percentile (nearest rank), in seconds to the millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from gongzhi.hub.tickets import CLOSED, Status, Ticket


class Outcome(StrEnum):
    MET = "met"
    BREACHED = "breached"
    PENDING = "pending"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def missed(ticket: Ticket, now: int) -> bool:
    """A deadline was missed (see the module's docstring)."""
    due = ticket.due_at
    return ticket.escalation_level > 0 or bool(ticket.breaches) or (
        due is not None and due <= now)


def outcome(ticket: Ticket, now: int) -> Outcome:
    if missed(ticket, now):
        return Outcome.BREACHED
    return Outcome.MET if ticket.status in CLOSED else Outcome.PENDING


def durations(values_ms: Sequence[int]) -> dict[str, float | None]:
    """Median and 90th percentile of durations in milliseconds, as seconds."""
    def seconds(v: float | None) -> float | None:
        return None if v is None else round(v / 1000, 3)

    return {"median_s": seconds(percentile(values_ms, 0.5)),
            "p90_s": seconds(percentile(values_ms, 0.9))}


def sla_figures(tickets: Iterable[Ticket], now: int) -> dict[str, Any]:
    """The SLA statistic of ``tickets`` at ``now`` with the counts shown beside it: how many were
    acknowledged, resolved, false alarms, had a deadline recorded as missed (``breached``) or
    were escalated; decided and met counts, compliance and the response times."""
    group = list(tickets)
    outcomes = [outcome(t, now) for t in group]
    met = outcomes.count(Outcome.MET)
    decided = met + outcomes.count(Outcome.BREACHED)
    ack = [t.acknowledged_at - t.opened_at for t in group if t.acknowledged_at is not None]
    resolve = [t.closed_at - t.opened_at for t in group
               if t.closed_at is not None and t.status is Status.RESOLVED]
    return {
        "acknowledged": len(ack),
        "resolved": len(resolve),
        "false_alarms": sum(1 for t in group if t.status is Status.FALSE_ALARM),
        "breached": sum(1 for t in group if t.breaches),
        "escalated": sum(1 for t in group if t.escalation_level > 0),
        "sla_decided": decided,
        "sla_met": met,
        "sla_compliance": round(met / decided, 4) if decided else None,
        "time_to_ack": durations(ack),
        "time_to_resolve": durations(resolve),
    }
