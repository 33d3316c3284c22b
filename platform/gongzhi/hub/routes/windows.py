"""Maintenance windows and silences: made, listed and ended by the parties, every change in the
audit log. Alarms in an open window still make tickets, marked ``silenced_by`` the window, and
nobody is told of them (re-notification skips them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import Field, model_validator

from gongzhi.core.alarms import AlarmKind
from gongzhi.hub.deps import CurrentParty, HubDep
from gongzhi.hub.notify.roster_desk import DutyDesk, get_desk
from gongzhi.hub.notify.windows import WEEKDAYS, NewWindow, Target, Weekly, Window
from gongzhi.hub.parties import SUPERVISORS
from gongzhi.hub.routes.methods import answer_other_methods
from gongzhi.hub.schemas import _ID, MAX_INT, NO_NUL, Millis, Refused, Strict

router = APIRouter(prefix="/api/windows", tags=["windows"])

DeskDep = Annotated[DutyDesk, Depends(get_desk)]
WindowId = Annotated[int, Path(ge=1, le=MAX_INT)]
# A window longer than a year is a standing exemption, not maintenance.
MAX_SPAN_MS = 366 * 86_400_000
_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"
Id = Annotated[str, Field(pattern=_ID)]


class TargetIn(Strict):
    estate: Id | None = None
    building: Id | None = None
    riser: Annotated[str, Field(pattern=r"^[A-Za-z0-9_#.-]{1,64}$")] | None = None
    device: Id | None = None
    kinds: Annotated[list[AlarmKind], Field(min_length=1)] | None = None


class WeeklyIn(Strict):
    weekdays: Annotated[list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]],
                        Field(min_length=1)]
    from_: Annotated[str, Field(alias="from", pattern=_CLOCK)]
    to: Annotated[str, Field(pattern=_CLOCK)]

    def slot(self) -> Weekly:
        start = int(self.from_[:2]) * 60 + int(self.from_[3:])
        end = int(self.to[:2]) * 60 + int(self.to[3:])
        return Weekly(frozenset(WEEKDAYS.index(d) for d in self.weekdays), start,
                      (end - start) % (24 * 60) or 24 * 60)


class WindowCreate(Strict):
    """A window: what it covers, why, from when (default now) until when, and for a recurring
    one its weekly slot in local time."""

    target: TargetIn
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)]
    starts_at: Millis | None = None
    ends_at: Millis
    weekly: WeeklyIn | None = None

    @model_validator(mode="after")
    def _covers_something(self) -> WindowCreate:
        if not self.target.model_dump(exclude_none=True):
            raise ValueError("a window must name an estate, building, riser, device or kinds")
        return self


def _refuse_supervisor(party: str) -> None:
    if party in SUPERVISORS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {
            "reason": "read_only", "message": f"{party} supervises: it reads windows only"})


def _public(window: Window, desk: DutyDesk, now: int) -> dict[str, Any]:
    return window.to_dict(now, desk.zone)


answer_other_methods(router)


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={403: {"model": Refused, "description": "`read_only`: supervision"},
                        422: {"description": "an empty target, or an end not after the start"}})
def create_window(body: WindowCreate, party: CurrentParty, hub: HubDep,
                  desk: DeskDep) -> dict[str, Any]:
    """Open a maintenance window (one-off, or recurring weekly within its span)."""
    _refuse_supervisor(party)
    now = hub.clock.now_ms()
    starts_at = body.starts_at if body.starts_at is not None else now
    if body.ends_at <= max(starts_at, now):
        raise HTTPException(422, "ends_at must be after starts_at and in the future")
    if body.ends_at - starts_at > MAX_SPAN_MS:
        raise HTTPException(422, "a window may last at most 366 days")
    t = body.target
    target = Target(t.estate, t.building, t.riser, t.device,
                    frozenset(k.value for k in t.kinds) if t.kinds else None)
    window = desk.windows.add_window(NewWindow(
        target, party, body.reason, starts_at, body.ends_at,
        body.weekly.slot() if body.weekly else None), now)
    return _public(window, desk, now)


@router.get("")
def list_windows(party: CurrentParty, hub: HubDep, desk: DeskDep,
                 ended: Annotated[bool, Query(description="include ended windows")] = False,
                 ) -> dict[str, Any]:
    """The windows still open or to come (with ``ended=true``: every window), each with its
    state now (scheduled, open, waiting for its next slot, ended) and when it next opens."""
    now = hub.clock.now_ms()
    found = desk.windows.windows(closing_after=None if ended else now)
    return {"windows": [_public(w, desk, now) for w in sorted(found, key=lambda w: w.id)],
            "timezone": desk.rosters.timezone}


@router.post("/{window_id}/end",
             responses={403: {"model": Refused, "description": "`read_only`: supervision"},
                        404: {"description": "no such window"}})
def end_window(window_id: WindowId, party: CurrentParty, hub: HubDep,
               desk: DeskDep) -> dict[str, Any]:
    """End a window now (ending an ended window changes nothing)."""
    _refuse_supervisor(party)
    now = hub.clock.now_ms()
    before = desk.windows.get_window(window_id)
    if before is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no window {window_id}")
    window = desk.windows.end_window(window_id, party, now)
    assert window is not None
    return _public(window, desk, now)
