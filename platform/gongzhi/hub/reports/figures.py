"""Residents' reports in figures (pure): per party handling them, how many, the SLA statistic of
their tickets (``gongzhi.hub.sla``, the one definition: met / decided, median and p90 times to
acknowledge and resolve) and the residents' satisfaction. Aggregates only: no report's words,
phone or building leaves this module."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from gongzhi.hub.reports.store import StoredReport
from gongzhi.hub.sla import sla_figures
from gongzhi.hub.tickets import Ticket


def satisfaction(stars: list[int]) -> dict[str, Any]:
    return {"ratings": len(stars),
            "rating_mean": round(sum(stars) / len(stars), 2) if stars else None,
            "stars": [stars.count(n) for n in range(1, 6)]}


def per_party(reports: Iterable[StoredReport], tickets: Mapping[int, Ticket],
              now: int) -> list[dict[str, Any]]:
    """One entry per party holding the reports' tickets, by party id."""
    grouped: dict[str, list[tuple[StoredReport, Ticket]]] = defaultdict(list)
    for report in reports:
        ticket = tickets.get(report.ticket_id) if report.ticket_id is not None else None
        if ticket is not None:
            grouped[ticket.assignee].append((report, ticket))
    return [{"party": party, "reports": len(pairs),
             **sla_figures([t for _, t in pairs], now),
             **satisfaction([r.rating for r, _ in pairs if r.rating is not None])}
            for party, pairs in sorted(grouped.items())]


def report_summary(reports: Iterable[StoredReport], tickets: Mapping[int, Ticket],
                   now: int) -> dict[str, Any]:
    group = list(reports)
    return {"reports": len(group),
            "by_category": dict(sorted(Counter(r.category.value for r in group).items())),
            **satisfaction([r.rating for r in group if r.rating is not None]),
            "by_party": per_party(group, tickets, now)}
