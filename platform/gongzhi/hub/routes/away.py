"""Declared absences of elderly people living alone (``gongzhi.hub.away``): the residents'
committee declares and ends them; the committee and the police room read them. They are kept in
the ticket store (``gongzhi.hub.away_store``), so every platform replica on one database answers
with the same ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import Field

from gongzhi.devices.registry import Registry
from gongzhi.hub.away import MAX_AWAY_MS, Absence
from gongzhi.hub.away_store import SqlAbsences
from gongzhi.hub.deps import ClockDep, CurrentParty, RegistryDep, StoreDep
from gongzhi.hub.elderly import elderly_households
from gongzhi.hub.parties import Party
from gongzhi.hub.routes.household_guards import require_elderly_household, require_party
from gongzhi.hub.routes.methods import answer_other_methods
from gongzhi.hub.schemas import (
    _ID,
    MAX_INT,
    HouseholdId,
    HouseholdNote,
    Millis,
    Refused,
    Strict,
)

router = APIRouter(prefix="/api/away", tags=["away"])

DECLARES = frozenset({Party.RESIDENTS_COMMITTEE.value})
READS = frozenset({Party.RESIDENTS_COMMITTEE.value, Party.POLICE_ROOM.value})
AbsenceId = Annotated[int, Path(ge=1, le=MAX_INT)]


class AbsenceIn(Strict):
    estate_id: Annotated[str, Field(pattern=_ID)]
    household: HouseholdId
    starts_at: Millis | None = None
    ends_at: Millis
    note: HouseholdNote = ""


def get_book(store: StoreDep) -> SqlAbsences:
    """The absences of the platform's store (no state of its own: every replica reads the
    database)."""
    return SqlAbsences(store)


BookDep = Annotated[SqlAbsences, Depends(get_book)]


def public_absence(absence: Absence) -> dict[str, Any]:
    """An absence as the API shows it: with the count of alarms it held."""
    data = absence.to_dict()
    data["held_alarms"] = len(absence.held)
    return data


answer_other_methods(router)


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={403: {"model": Refused, "description": "`not_allowed`: not the "
                                                               "residents' committee"},
                        404: {"model": Refused, "description": "`unknown_household`"},
                        422: {"description": "`bad_span`, or a malformed body"}})
def declare(body: AbsenceIn, party: CurrentParty, book: BookDep, registry: RegistryDep,
            clock: ClockDep) -> dict[str, Any]:
    """Declare that the person of a household flagged elderly-alone is away from ``starts_at``
    (default now) until ``ends_at``: welfare alarms in between make no ticket."""
    require_party(party, DECLARES, "declare declared absences")
    now = clock.now_ms()
    starts = now if body.starts_at is None else body.starts_at
    return public_absence(declare_checked(book, registry, body.estate_id, body.household, starts,
                                   body.ends_at, party, body.note, now))


def declare_checked(book: SqlAbsences, registry: Registry, estate_id: str, household: str,
                    starts: int, ends: int, party: str, note: str, now: int, *,
                    person: str | None = None) -> Absence:
    """Declare an absence once its span and household are checked (HTTP 422 ``bad_span``, 404
    ``unknown_household``): here, and from a welfare check's signed link (``routes/mobile``)."""
    if ends <= starts or ends - starts > MAX_AWAY_MS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
            "reason": "bad_span", "message": "ends_at must be after starts_at, within 92 days"})
    require_elderly_household(registry, estate_id, household)
    return book.declare(estate_id, household, starts, ends, party, note, now, person=person)


@router.get("", responses={403: {"model": Refused, "description": "`not_allowed`"}})
def list_absences(party: CurrentParty, book: BookDep) -> list[dict[str, Any]]:
    require_party(party, READS, "read declared absences")
    return [public_absence(a) for a in book.all()]


@router.get("/households",
            responses={403: {"model": Refused, "description": "`not_allowed`: not the "
                                                              "residents' committee"}})
def households(party: CurrentParty, registry: RegistryDep) -> list[dict[str, Any]]:
    """The households flagged elderly-alone in the registry, the ones an absence may be declared
    for, each with its flat: what the committee picks from. Only the committee reads the flag."""
    require_party(party, DECLARES, "list the households of declared absences")
    return [{"estate_id": estate, "household": household, "location": location.to_dict()}
            for (estate, household), location in elderly_households(registry).items()]


@router.post("/{absence_id}/end",
             responses={403: {"model": Refused, "description": "`not_allowed`"},
                        404: {"model": Refused, "description": "`unknown_absence`"}})
def end(absence_id: AbsenceId, party: CurrentParty, book: BookDep,
        clock: ClockDep) -> dict[str, Any]:
    """Back sooner: the absence ends now."""
    require_party(party, DECLARES, "end declared absences")
    absence = book.end(absence_id, clock.now_ms(), party)
    if absence is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, {
            "reason": "unknown_absence", "message": f"no absence {absence_id}"})
    return public_absence(absence)
