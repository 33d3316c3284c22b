"""Supervision statistics (pure): per party and kind, time to acknowledge and to resolve (median
and 90th percentile), SLA compliance and overdue counts, overall and by local day.

No personal data goes in: the figures are aggregates any party, the NPC liaison station first,
may read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gongzhi.hub.tickets import CLOSED, Status, Ticket


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _seconds(values: list[int]) -> dict[str, float | None]:
    def s(v: float | None) -> float | None:
        return None if v is None else round(v / 1000, 3)

    return {"median_s": s(percentile(values, 0.5)), "p90_s": s(percentile(values, 0.9))}


def missed(ticket: Ticket, now: int) -> bool:
    """A deadline was missed: the escalation engine acted on it (a missed deadline, a hand-over
    to the next party, an unverified smoke alarm) or a deadline has passed unmet."""
    due = ticket.due_at
    return ticket.escalation_level > 0 or bool(ticket.breaches) or (
        due is not None and due <= now)


def summarise(tickets: Iterable[Ticket], now: int) -> dict[str, Any]:
    group = list(tickets)
    ack = [t.acknowledged_at - t.opened_at for t in group if t.acknowledged_at is not None]
    resolve = [t.closed_at - t.opened_at for t in group
               if t.closed_at is not None and t.status is Status.RESOLVED]
    # The SLA outcome is known once a deadline is missed or the ticket is closed.
    failed = [t for t in group if missed(t, now)]
    decided = len(failed) + sum(1 for t in group if t.status in CLOSED and not missed(t, now))
    met = decided - len(failed)
    return {
        "tickets": len(group),
        "open": sum(1 for t in group if t.active),
        "acknowledged": len(ack),
        "resolved": sum(1 for t in group if t.status is Status.RESOLVED),
        "false_alarms": sum(1 for t in group if t.status is Status.FALSE_ALARM),
        "time_to_ack": _seconds(ack),
        "time_to_resolve": _seconds(resolve),
        "sla_decided": decided,
        "sla_met": met,
        "sla_compliance": round(met / decided, 4) if decided else None,
        "overdue_open": sum(1 for t in group if t.overdue),
        "breached": sum(1 for t in group if t.breaches),
        "escalated": sum(1 for t in group if t.escalation_level > 0),
    }


def local_day(ts_ms: int, timezone: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone)).date(
    ).isoformat()


def statistics(tickets: Iterable[Ticket], *, now: int, since: int,
               timezone: str) -> dict[str, Any]:
    group = [t for t in tickets if t.opened_at >= since]
    by_party_kind: dict[tuple[str, str], list[Ticket]] = defaultdict(list)
    by_day: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in group:
        by_party_kind[(ticket.assignee, ticket.kind)].append(ticket)
        by_day[local_day(ticket.opened_at, timezone)].append(ticket)
    return {
        "generated_at": now,
        "since": since,
        "timezone": timezone,
        "totals": summarise(group, now),
        "by_party_kind": [{"party": party, "kind": kind, **summarise(items, now)}
                          for (party, kind), items in sorted(by_party_kind.items())],
        "by_day": [{"day": day, **summarise(items, now)} for day, items in sorted(by_day.items())],
    }
