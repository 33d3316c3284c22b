"""Reading an estate's month from the platform's store: every ticket open at any time in the
month (opened in it, or changed since it began, or still open), the residents' reports made in
it and, with the registry at hand, the committee's visits to the estate's flagged homes."""

from __future__ import annotations

from dataclasses import replace

from gongzhi.devices.registry import Registry
from gongzhi.hub.elderly import elderly_households
from gongzhi.hub.monthly_report.figures import MonthFigures, month_figures
from gongzhi.hub.monthly_report.period import Month
from gongzhi.hub.reports.store import SqlReports
from gongzhi.hub.store.base import Store
from gongzhi.hub.tickets import ACTIVE, Ticket
from gongzhi.hub.visit_store import SqlVisits
from gongzhi.hub.visits import estate_visit_figures

MAX_TICKETS = 2_000_000


def month_tickets(store: Store, month: Month, now: int) -> list[Ticket]:
    with store.transaction(now) as tx:
        found = {t.id: t for t in tx.list_tickets(since=month.start_ms, limit=MAX_TICKETS)
                 if t.opened_at < month.end_ms}
        found.update((t.id, t) for t in tx.list_tickets(
            statuses=[s.value for s in ACTIVE], limit=MAX_TICKETS) if t.opened_at < month.end_ms)
    return list(found.values())


def load_month(store: Store, estate_id: str, month: Month, now: int,
               registry: Registry | None = None) -> MonthFigures:
    tickets = [t for t in month_tickets(store, month, now) if t.location.estate_id == estate_id]
    reports = SqlReports(store).between(month.start_ms, month.end_ms, estate_id)
    figures = month_figures(estate_id, month, tickets, reports, now)
    if registry is None:
        return figures
    made = SqlVisits(store).between(month.start_ms, month.end_ms)
    return replace(figures, visits=estate_visit_figures(
        elderly_households(registry), made, estate_id, month.start_ms, month.end_ms))
