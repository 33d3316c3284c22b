"""The residents' committee's visits to elderly people living alone (``gongzhi.hub.visits``): the
committee records a visit and what it found, and reads a month's coverage, the flagged households
still to visit first. Only the committee: who is flagged, and how they were found, is personal
data that no other party needs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import Field

from gongzhi.hub.deps import ClockDep, CurrentParty, RegistryDep, ServiceDep, StoreDep
from gongzhi.hub.elderly import elderly_households
from gongzhi.hub.monthly_report.period import month_at, parse_month
from gongzhi.hub.parties import Party
from gongzhi.hub.routes.household_guards import require_elderly_household, require_party
from gongzhi.hub.routes.methods import answer_other_methods
from gongzhi.hub.schemas import _ID, HouseholdId, HouseholdNote, Millis, Refused, Strict
from gongzhi.hub.visit_store import SqlVisits
from gongzhi.hub.visits import Outcome, month_coverage

router = APIRouter(prefix="/api/visits", tags=["visits"])

COMMITTEE = frozenset({Party.RESIDENTS_COMMITTEE.value})
# A visit is recorded when it is made, or later the same quarter (a paper round typed in); a
# visit in the future is a typing error.
LATE_MS = 92 * 86_400_000
AHEAD_MS = 5 * 60_000  # the phone's clock a little ahead of the platform's


class VisitIn(Strict):
    estate_id: Annotated[str, Field(pattern=_ID)]
    household: HouseholdId
    visited_at: Millis | None = None
    outcome: Outcome
    note: HouseholdNote = ""


def get_visits(store: StoreDep) -> SqlVisits:
    return SqlVisits(store)


VisitsDep = Annotated[SqlVisits, Depends(get_visits)]
answer_other_methods(router)
REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"model": Refused, "description": "`not_allowed`: not the residents' committee"}}


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={**REFUSED,
                        404: {"model": Refused, "description": "`unknown_household`"},
                        422: {"description": "`bad_time`, or a malformed body"}})
def record(body: VisitIn, party: CurrentParty, book: VisitsDep, registry: RegistryDep,
           clock: ClockDep) -> dict[str, Any]:
    """Record a visit to a household flagged elderly-alone (``visited_at`` default now; up to a
    quarter late) and what it found: ``well``, ``needs_help`` or ``not_home``."""
    require_party(party, COMMITTEE, "read or record visits")
    now = clock.now_ms()
    when = now if body.visited_at is None else body.visited_at
    if not now - LATE_MS <= when <= now + AHEAD_MS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
            "reason": "bad_time",
            "message": "visited_at must be now or earlier, within the last 92 days"})
    require_elderly_household(registry, body.estate_id, body.household)
    visit = book.record(body.estate_id, body.household, when, body.outcome, body.note, party,
                        now)
    return visit.to_dict()


@router.get("", responses={**REFUSED, 422: {"description": "a month not written YYYY-MM"}})
def coverage(party: CurrentParty, book: VisitsDep, registry: RegistryDep, service: ServiceDep,
             clock: ClockDep,
             month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                                description="YYYY-MM; default this month")]
             = None) -> dict[str, Any]:
    """A month's visits (in the duty matrix's time zone): each flagged household, those not yet
    visited first, with its count of visits and the last; a visit that found nobody home does
    not count as visited."""
    require_party(party, COMMITTEE, "read or record visits")
    timezone = service.matrix.timezone
    period = month_at(clock.now_ms(), timezone) if month is None else parse_month(month,
                                                                                  timezone)
    rows = month_coverage(elderly_households(registry),
                          book.between(period.start_ms, period.end_ms),
                          period.start_ms, period.end_ms)
    return {"month": period.label, "timezone": timezone, "start_ms": period.start_ms,
            "end_ms": period.end_ms, "total": len(rows),
            "visited": sum(1 for r in rows if r.visited),
            "households": [r.to_dict() for r in rows]}
