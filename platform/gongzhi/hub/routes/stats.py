"""Supervision statistics (aggregates, no personal data)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gongzhi.hub.deps import ClockDep, CurrentParty, ServiceDep
from gongzhi.hub.schemas import Stats
from gongzhi.hub.stats import statistics

router = APIRouter(prefix="/api", tags=["supervision"])

DAY_MS = 86_400_000


@router.get("/stats", response_model=Stats)
def stats(_party: CurrentParty, service: ServiceDep, clock: ClockDep,
          days: Annotated[int, Query(ge=1, le=366, description="tickets opened in the last "
                                                               "N days")] = 30
          ) -> dict[str, Any]:
    """Per party (the assignee) and kind, and by local day: time to acknowledge and to resolve
    (median, p90), SLA compliance (tickets whose outcome is known that missed no deadline),
    overdue and escalated counts."""
    now = clock.now_ms()
    since = now - days * DAY_MS
    return statistics(service.tickets_for_figures(since), now=now, since=since,
                      timezone=service.matrix.timezone)
