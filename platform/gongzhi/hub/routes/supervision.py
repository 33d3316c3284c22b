"""Supervision figures for the NPC liaison station and the party committee: SLA compliance and
the time to acknowledge and to resolve, per day, per assignee party and per kind. Aggregates
only: no ticket, device, room or household leaves this module."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from gongzhi.hub.deps import ClockDep, CurrentParty, StoreDep
from gongzhi.hub.tickets import Status, Ticket

router = APIRouter(prefix="/api", tags=["supervision"])

DAY_MS = 86_400_000
MAX_TICKETS = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Figures(_Strict):
    opened: int
    acknowledged: int
    resolved: int
    false_alarms: int
    breached: int
    escalated: int
    sla_compliance: float | None
    mean_ack_ms: float | None
    mean_resolve_ms: float | None


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


@dataclass
class _Tally:
    opened: int = 0
    acknowledged: int = 0
    resolved: int = 0
    false_alarms: int = 0
    breached: int = 0
    escalated: int = 0
    ack_ms: list[int] = field(default_factory=list)
    resolve_ms: list[int] = field(default_factory=list)

    def add(self, t: Ticket) -> None:
        self.opened += 1
        self.breached += bool(t.breaches)
        self.escalated += t.escalation_level > 0
        if t.acknowledged_at is not None:
            self.acknowledged += 1
            self.ack_ms.append(t.acknowledged_at - t.opened_at)
        if t.status is Status.RESOLVED and t.closed_at is not None:
            self.resolved += 1
            self.resolve_ms.append(t.closed_at - t.opened_at)
        if t.status is Status.FALSE_ALARM:
            self.false_alarms += 1

    def merge(self, other: _Tally) -> None:
        for name in ("opened", "acknowledged", "resolved", "false_alarms", "breached",
                     "escalated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ack_ms += other.ack_ms
        self.resolve_ms += other.resolve_ms

    def figures(self) -> dict[str, Any]:
        return {
            "opened": self.opened, "acknowledged": self.acknowledged, "resolved": self.resolved,
            "false_alarms": self.false_alarms, "breached": self.breached,
            "escalated": self.escalated,
            # The share of tickets that met every deadline so far.
            "sla_compliance": None if not self.opened else 1 - self.breached / self.opened,
            "mean_ack_ms": _mean(self.ack_ms), "mean_resolve_ms": _mean(self.resolve_ms),
        }


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _day_label(start_ms: int, tz_offset_ms: int) -> str:
    moment = dt.datetime.fromtimestamp((start_ms + tz_offset_ms) / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d")


def summarise(tickets: Iterable[Ticket], *, now_ms: int, days: int,
              tz_offset_ms: int) -> dict[str, Any]:
    """Figures for the tickets opened in the last ``days`` local days (today included)."""
    today = (now_ms + tz_offset_ms) // DAY_MS * DAY_MS - tz_offset_ms
    start = today - (days - 1) * DAY_MS
    day_starts = [start + i * DAY_MS for i in range(days)]
    total = _Tally()
    by_day: dict[int, _Tally] = defaultdict(_Tally)
    groups: dict[str, dict[str, dict[int, _Tally]]] = {
        "party": defaultdict(lambda: defaultdict(_Tally)),
        "kind": defaultdict(lambda: defaultdict(_Tally)),
    }
    open_overdue = open_escalated = 0
    for t in tickets:
        if t.active:
            open_overdue += t.overdue
            open_escalated += t.escalation_level > 0
        if not start <= t.opened_at < today + DAY_MS:
            continue
        day = start + (t.opened_at - start) // DAY_MS * DAY_MS
        total.add(t)
        by_day[day].add(t)
        groups["party"][t.assignee][day].add(t)
        groups["kind"][t.kind][day].add(t)

    def days_of(tallies: dict[int, _Tally]) -> list[dict[str, Any]]:
        return [{"day": _day_label(d, tz_offset_ms), "start_ms": d,
                 **tallies.get(d, _Tally()).figures()} for d in day_starts]

    def grouped(name: str) -> list[dict[str, Any]]:
        out = []
        for key in sorted(groups[name]):
            whole = _Tally()
            for tally in groups[name][key].values():
                whole.merge(tally)
            out.append({"key": key, **whole.figures(), "days": days_of(groups[name][key])})
        return out

    return {
        "start_ms": start, "end_ms": today + DAY_MS, "days": days,
        "tz_offset_min": tz_offset_ms // 60_000,
        "total": total.figures(), "by_day": days_of(by_day),
        "by_party": grouped("party"), "by_kind": grouped("kind"),
        "open_overdue": open_overdue, "open_escalated": open_escalated,
    }


@router.get("/supervision", response_model=SupervisionSummary)
async def supervision(
    party: CurrentParty,
    store: StoreDep,
    clock: ClockDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
    tz_offset_min: Annotated[int, Query(ge=-840, le=840,
                                        description="local time minus UTC, minutes")] = 480,
) -> dict[str, Any]:
    """SLA figures over all tickets, without personal data (any party may read aggregates)."""
    del party
    now = clock.now_ms()
    tz_offset_ms = tz_offset_min * 60_000
    since = now - (days + 1) * DAY_MS

    def load() -> list[Ticket]:
        with store.transaction(now) as tx:
            recent = tx.list_tickets(since=since, limit=MAX_TICKETS)
            active = tx.list_tickets(statuses=[s.value for s in Status
                                               if s not in (Status.RESOLVED, Status.FALSE_ALARM)],
                                     limit=MAX_TICKETS)
        seen = {t.id: t for t in recent}
        seen.update({t.id: t for t in active})
        return list(seen.values())

    tickets = await to_thread.run_sync(load)
    return summarise(tickets, now_ms=now, days=days, tz_offset_ms=tz_offset_ms)
