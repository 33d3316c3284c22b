"""Supervision figures for the NPC liaison station and the party committee: SLA compliance and
the time to acknowledge and to resolve (median, p90), per day, per assignee party and per kind,
by the one SLA definition of ``gongzhi.hub.sla``. Aggregates only: no ticket, device, room or
household leaves this module."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from gongzhi.hub.deps import ClockDep, CurrentParty, RegistryDep, ServiceDep, StoreDep
from gongzhi.hub.reports.figures import report_summary
from gongzhi.hub.reports.store import SqlReports
from gongzhi.hub.schemas import Durations
from gongzhi.hub.sla import sla_figures
from gongzhi.hub.tickets import Ticket

router = APIRouter(prefix="/api", tags=["supervision"])

DAY_MS = 86_400_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Figures(_Strict):
    opened: int
    acknowledged: int
    resolved: int
    false_alarms: int
    breached: int
    escalated: int
    sla_decided: int
    sla_met: int
    sla_compliance: float | None
    time_to_ack: Durations
    time_to_resolve: Durations


class DayFigures(Figures):
    day: str
    start_ms: int


class GroupFigures(Figures):
    key: str
    days: list[DayFigures]


class SupervisionSummary(_Strict):
    start_ms: int
    end_ms: int
    days: int
    tz_offset_min: int
    total: Figures
    by_day: list[DayFigures]
    by_party: list[GroupFigures]
    by_kind: list[GroupFigures]
    open_overdue: int
    open_escalated: int


def _figures(tickets: list[Ticket], now_ms: int) -> dict[str, Any]:
    return {"opened": len(tickets), **sla_figures(tickets, now_ms)}


def _day_label(start_ms: int, tz_offset_ms: int) -> str:
    moment = dt.datetime.fromtimestamp((start_ms + tz_offset_ms) / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d")


def summarise(tickets: Iterable[Ticket], *, now_ms: int, days: int,
              tz_offset_ms: int) -> dict[str, Any]:
    """Figures for the tickets opened in the last ``days`` local days (today included)."""
    today = (now_ms + tz_offset_ms) // DAY_MS * DAY_MS - tz_offset_ms
    start = today - (days - 1) * DAY_MS
    day_starts = [start + i * DAY_MS for i in range(days)]
    total: list[Ticket] = []
    by_day: dict[int, list[Ticket]] = defaultdict(list)
    groups: dict[str, dict[str, dict[int, list[Ticket]]]] = {
        "party": defaultdict(lambda: defaultdict(list)),
        "kind": defaultdict(lambda: defaultdict(list)),
    }
    open_overdue = open_escalated = 0
    for t in tickets:
        if t.active:
            open_overdue += t.overdue
            open_escalated += t.escalation_level > 0
        if not start <= t.opened_at < today + DAY_MS:
            continue
        day = start + (t.opened_at - start) // DAY_MS * DAY_MS
        total.append(t)
        by_day[day].append(t)
        groups["party"][t.assignee][day].append(t)
        groups["kind"][t.kind][day].append(t)

    def days_of(tickets: dict[int, list[Ticket]]) -> list[dict[str, Any]]:
        return [{"day": _day_label(d, tz_offset_ms), "start_ms": d,
                 **_figures(tickets.get(d, []), now_ms)} for d in day_starts]

    def grouped(name: str) -> list[dict[str, Any]]:
        return [{"key": key,
                 **_figures([t for day in days.values() for t in day], now_ms),
                 "days": days_of(days)}
                for key, days in sorted(groups[name].items())]

    return {
        "start_ms": start, "end_ms": today + DAY_MS, "days": days,
        "tz_offset_min": tz_offset_ms // 60_000,
        "total": _figures(total, now_ms), "by_day": days_of(by_day),
        "by_party": grouped("party"), "by_kind": grouped("kind"),
        "open_overdue": open_overdue, "open_escalated": open_escalated,
    }


@router.get("/supervision", response_model=SupervisionSummary)
def supervision(
    party: CurrentParty,
    service: ServiceDep,
    clock: ClockDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
    tz_offset_min: Annotated[int, Query(ge=-840, le=840,
                                        description="local time minus UTC, minutes")] = 480,
) -> dict[str, Any]:
    """SLA figures over all tickets, without personal data (any party may read aggregates); the
    SLA statistic is that of ``/api/stats`` (docs/sla.md)."""
    del party
    now = clock.now_ms()
    tickets = service.tickets_for_figures(now - (days + 1) * DAY_MS)
    return summarise(tickets, now_ms=now, days=days, tz_offset_ms=tz_offset_min * 60_000)


@router.get("/supervision/reports")
def supervision_reports(
    party: CurrentParty,
    service: ServiceDep,
    store: StoreDep,
    clock: ClockDep,
    days: Annotated[int, Query(ge=1, le=90)] = 30,
) -> dict[str, Any]:
    """Residents' reports of the last ``days`` days, per party handling them: how many, the SLA
    statistic of their tickets (response times, met / decided) and the residents' satisfaction
    (1-5 stars). Aggregates only: no report's words, phone or place."""
    del party
    now = clock.now_ms()
    start = now - days * DAY_MS
    reports = SqlReports(store).between(start, now + 1)
    tickets = {t.id: t for t in service.tickets_for_figures(start)}
    return {"start_ms": start, "end_ms": now, "days": days,
            **report_summary(reports, tickets, now)}


@router.get("/supervision/visits")
def supervision_visits(party: CurrentParty, store: StoreDep, registry: RegistryDep,
                       service: ServiceDep, clock: ClockDep) -> dict[str, Any]:
    """This month's routine visits of the residents' committee, per estate, as counts: homes
    flagged, visited, visits made, visits that found someone needing help. No home is named
    (any party may read aggregates)."""
    from gongzhi.hub.elderly import elderly_households
    from gongzhi.hub.monthly_report.period import month_at
    from gongzhi.hub.visit_store import SqlVisits
    from gongzhi.hub.visits import estate_visit_figures

    del party
    period = month_at(clock.now_ms(), service.matrix.timezone)
    homes = elderly_households(registry)
    made = SqlVisits(store).between(period.start_ms, period.end_ms)
    return {"month": period.label, "estates": [
        {"estate_id": estate, **estate_visit_figures(homes, made, estate, period.start_ms,
                                                     period.end_ms).to_dict()}
        for estate in sorted({e for (e, _) in homes})]}


@router.get("/supervision/monthly-report",
            responses={200: {"content": {"application/pdf": {}}},
                       404: {"description": "no such estate"}})
def monthly_report(
    party: CurrentParty,
    service: ServiceDep,
    store: StoreDep,
    registry: RegistryDep,
    clock: ClockDep,
    estate: Annotated[str, Query(min_length=1, max_length=64)],
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
) -> Response:
    """The estate's monthly report for the branch meeting as a PDF (``gongzhi report``): no
    personal data, so any party may download it."""
    from gongzhi.hub.monthly_report.load import load_month
    from gongzhi.hub.monthly_report.pdf import pdf_bytes
    from gongzhi.hub.monthly_report.period import parse_month

    del party
    if estate not in registry.estates():
        raise HTTPException(404, f"no estate {estate!r} in the registry")
    period = parse_month(month, service.matrix.timezone)
    data = pdf_bytes(load_month(store, estate, period, clock.now_ms(), registry))
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"gongzhi-{estate}-{period.label}.pdf")
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
