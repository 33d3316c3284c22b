"""The figures of an estate's month (pure): what the PDF shows, computed from the tickets and the
residents' reports. Nothing personal is kept: no phone, no household, no room, no resident's
words, no household flag; welfare checks only as a count (where they happened would point at an
elderly person living alone); open items by building, kind, party and age.

SLA figures are those of ``gongzhi.hub.sla`` (the one definition)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gongzhi.core.alarms import AlarmKind
from gongzhi.hub.monthly_report.period import Month
from gongzhi.hub.reports.categories import REPORT_KINDS
from gongzhi.hub.reports.figures import per_party, satisfaction
from gongzhi.hub.reports.store import StoredReport
from gongzhi.hub.sla import sla_figures
from gongzhi.hub.tickets import Status, Ticket
from gongzhi.hub.visits import VisitFigures

WELFARE = AlarmKind.WELFARE_CHECK.value
OPEN_ITEMS_SHOWN = 25


@dataclass(frozen=True, slots=True)
class PartyFigures:
    party: str
    tickets: int
    sla_met: int
    sla_decided: int
    sla_compliance: float | None
    ack_median_s: float | None
    resolve_median_s: float | None
    escalated: int


@dataclass(frozen=True, slots=True)
class ReportFigures:
    party: str
    reports: int
    resolved: int
    ack_median_s: float | None
    resolve_median_s: float | None
    ratings: int
    rating_mean: float | None


@dataclass(frozen=True, slots=True)
class OpenItem:
    ticket_id: int
    kind: str
    building: str | None  # None for welfare checks
    assignee: str
    opened: int
    overdue: bool
    escalation_level: int


@dataclass(frozen=True, slots=True)
class MonthFigures:
    estate_id: str
    month: Month
    generated_at: int
    alarms: int
    alarms_by_kind: list[tuple[str, int]]
    alarms_by_building: list[tuple[str, int]]
    sla_by_party: list[PartyFigures]
    escalated: int
    breached: int
    escalated_by_party: list[tuple[str, int]]
    reports: int
    reports_by_category: list[tuple[str, int]]
    reports_by_party: list[ReportFigures]
    ratings: list[int]  # how many of 1..5 stars
    rating_mean: float | None
    welfare_checks: int
    open_items: int
    open_overdue: int
    open_by_kind: list[tuple[str, int]]
    open_listed: list[OpenItem] = field(default_factory=list)
    visits: VisitFigures | None = None  # None when the registry was not at hand

    def to_dict(self) -> dict[str, Any]:
        """For machines (and the tests): the same figures, no personal data."""
        from dataclasses import asdict

        return asdict(self)


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], _natural(item[0])))


def _natural(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def _party(party: str, group: list[Ticket], now: int) -> PartyFigures:
    sla = sla_figures(group, now)
    return PartyFigures(
        party=party, tickets=len(group), sla_met=sla["sla_met"], sla_decided=sla["sla_decided"],
        sla_compliance=sla["sla_compliance"],
        ack_median_s=sla["time_to_ack"]["median_s"],
        resolve_median_s=sla["time_to_resolve"]["median_s"],
        escalated=sla["escalated"])


def month_figures(estate_id: str, month: Month, tickets: Iterable[Ticket],
                  reports: Iterable[StoredReport], now: int) -> MonthFigures:
    """``tickets``: the estate's tickets opened in the month and every one still open;
    ``reports``: the residents' reports made in the month."""
    mine = [t for t in tickets if t.location.estate_id == estate_id]
    opened = [t for t in mine if month.start_ms <= t.opened_at < month.end_ms]
    alarms = [t for t in opened if t.kind not in REPORT_KINDS and t.kind != WELFARE]
    by_party: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in opened:
        by_party[ticket.assignee].append(ticket)
    report_tickets = {t.id: t for t in mine if t.kind in REPORT_KINDS}
    month_reports = [r for r in reports if r.estate_id == estate_id
                     and month.start_ms <= r.created_at < month.end_ms]
    rated = satisfaction([r.rating for r in month_reports if r.rating is not None])
    # Open items as of the end of the month (or now, for the month under way).
    cut = min(now, month.end_ms)
    still_open = sorted((t for t in mine if t.opened_at < cut
                         and (t.status not in (Status.RESOLVED, Status.FALSE_ALARM)
                              or (t.closed_at is not None and t.closed_at >= cut))),
                        key=lambda t: (not t.overdue, t.opened_at))
    return MonthFigures(
        estate_id=estate_id, month=month, generated_at=now,
        alarms=len(alarms),
        alarms_by_kind=_ranked(Counter(t.kind for t in alarms)),
        alarms_by_building=_ranked(Counter(t.location.building or "—" for t in alarms)),
        sla_by_party=[_party(p, g, now) for p, g in sorted(by_party.items())],
        escalated=sum(1 for t in opened if t.escalation_level > 0),
        breached=sum(1 for t in opened if t.breaches),
        escalated_by_party=_ranked(Counter(t.assignee for t in opened
                                           if t.escalation_level > 0)),
        reports=len(month_reports),
        reports_by_category=_ranked(Counter(r.category.value for r in month_reports)),
        reports_by_party=_report_parties(month_reports, report_tickets, now),
        ratings=rated["stars"],
        rating_mean=rated["rating_mean"],
        welfare_checks=sum(1 for t in opened if t.kind == WELFARE),
        open_items=len(still_open),
        open_overdue=sum(1 for t in still_open if t.overdue),
        open_by_kind=_ranked(Counter(t.kind for t in still_open)),
        open_listed=[OpenItem(t.id, t.kind, None if t.kind == WELFARE
                              else (t.location.building or None), t.assignee, t.opened_at,
                              t.overdue, t.escalation_level)
                     for t in still_open[:OPEN_ITEMS_SHOWN]],
    )


def _report_parties(reports: list[StoredReport],
                    tickets: dict[int, Ticket], now: int) -> list[ReportFigures]:
    return [ReportFigures(
        party=p["party"], reports=p["reports"], resolved=p["resolved"],
        ack_median_s=p["time_to_ack"]["median_s"],
        resolve_median_s=p["time_to_resolve"]["median_s"], ratings=p["ratings"],
        rating_mean=p["rating_mean"]) for p in per_party(reports, tickets, now)]
