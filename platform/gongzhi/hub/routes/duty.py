"""Who is on duty: a party's people on duty now, by its roster (names only; mobile numbers and
addresses stay in the rosters file)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status

from gongzhi.hub.deps import ClockDep, CurrentParty
from gongzhi.hub.notify.roster import duty_at
from gongzhi.hub.notify.roster_desk import DutyDesk, get_desk
from gongzhi.hub.parties import PARTY_IDS
from gongzhi.hub.schemas import Refused

router = APIRouter(prefix="/api/parties", tags=["parties"])

DeskDep = Annotated[DutyDesk, Depends(get_desk)]
PartyId = Annotated[str, Path(pattern=r"^[a-z_]{1,64}$", description="a party id")]


@router.get("/{party}/on-duty",
            responses={403: {"model": Refused, "description": "`other_party`: a party sees "
                                                             "only its own duty roster"},
                       404: {"description": "no such party"}})
def on_duty(party: PartyId, caller: CurrentParty, desk: DeskDep,
            clock: ClockDep) -> dict[str, Any]:
    """Who of ``party`` is on duty now: the shift, when it began and ends (epoch ms), whether a
    holiday plan applies, and the people (id, name, language, channels). A party sees its own."""
    if party not in PARTY_IDS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no party {party!r}")
    if party != caller:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {
            "reason": "other_party",
            "message": f"{caller} may see only its own duty roster, not {party}'s"})
    return {**duty_at(desk.rosters, party, clock.now_ms()).to_dict(),
            "timezone": desk.rosters.timezone}
