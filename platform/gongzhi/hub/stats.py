"""Supervision statistics (pure): per party and kind, time to acknowledge and to resolve (median
and 90th percentile), SLA compliance and overdue counts, overall and by local day. The SLA
figures are those of ``gongzhi.hub.sla``, the one definition.

No personal data goes in: the figures are aggregates any party, the NPC liaison station first,
may read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gongzhi.hub.sla import sla_figures
from gongzhi.hub.tickets import Ticket


def summarise(tickets: Iterable[Ticket], now: int) -> dict[str, Any]:
    group = list(tickets)
    return {
        "tickets": len(group),
        "open": sum(1 for t in group if t.active),
        "overdue_open": sum(1 for t in group if t.overdue),
        **sla_figures(group, now),
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
