"""Residents' reports for the parties: the report behind a ticket (the resident's words,
photos and phone, only for the parties handling the ticket), a public reply to the resident,
and the buildings' QR codes to print."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import Response
from pydantic import Field

from gongzhi.hub.deps import CurrentParty, RegistryDep
from gongzhi.hub.lifecycle import MAX_NOTE
from gongzhi.hub.parties import Party
from gongzhi.hub.reports.links import Building
from gongzhi.hub.reports.qr import qr_sheet
from gongzhi.hub.reports.service import MAX_PHOTOS, ReportService
from gongzhi.hub.reports.wiring import get_reports
from gongzhi.hub.routes.tickets import TicketId
from gongzhi.hub.schemas import NO_NUL, Strict

router = APIRouter(prefix="/api/reports", tags=["residents' reports"])

ReportsDep = Annotated[ReportService, Depends(get_reports)]
# Who puts the codes up on the notice boards.
PRINTERS = frozenset({Party.PROPERTY_OFFICE, Party.RESIDENTS_COMMITTEE})


class ReplyIn(Strict):
    text: Annotated[str, Field(min_length=1, max_length=MAX_NOTE, pattern=NO_NUL)]


@router.get("/tickets/{ticket_id}", responses={403: {"description": "not handling it"},
                                               404: {"description": "no such report"}})
def report_of_ticket(ticket_id: TicketId, party: CurrentParty,
                     reports: ReportsDep) -> dict[str, Any]:
    """The resident's report behind a ticket, for a party that handles it."""
    return reports.for_party(ticket_id, party)


@router.get("/tickets/{ticket_id}/photos/{idx}",
            responses={200: {"content": {"image/jpeg": {}}},
                       403: {"description": "not handling it"},
                       404: {"description": "no such report or photo"}})
def photo(ticket_id: TicketId, idx: Annotated[int, Path(ge=0, lt=MAX_PHOTOS)],
          party: CurrentParty, reports: ReportsDep) -> Response:
    """One of the report's photos (re-encoded, without metadata)."""
    media_type, data = reports.photo_for_party(ticket_id, idx=idx, party=party)
    return Response(data, media_type=media_type,
                    headers={"Cache-Control": "private, no-store"})


@router.post("/tickets/{ticket_id}/reply",
             responses={403: {"description": "not handling it"},
                        404: {"description": "no such report"}})
def reply(ticket_id: TicketId, body: ReplyIn, party: CurrentParty,
          reports: ReportsDep) -> dict[str, Any]:
    """A reply the resident reads on the tracking page (a comment marked public). The note of
    the action that closes the ticket is shown to the resident too."""
    return reports.reply(ticket_id, party, body.text.strip())


@router.get("/qr-codes", responses={403: {"description": "not a party that prints the codes"},
                                   404: {"description": "no such estate"}})
def qr_codes(party: CurrentParty, registry: RegistryDep, reports: ReportsDep,
             estate: Annotated[str, Query(min_length=1, max_length=64)],
             building: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    """The building links of an estate (or one building) as QR codes to print, for the
    property office and the residents' committee."""
    if party not in PRINTERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {
            "reason": "not_printer",
            "message": "the property office and the residents' committee print the codes"})
    buildings = sorted({r.location.building for r in registry if r.location.estate_id == estate
                        and r.location.building and building in (None, r.location.building)},
                       key=_natural)
    if not buildings:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no buildings of estate {estate!r}")
    return {"estate_id": estate,
            "codes": qr_sheet(reports.links, [Building(estate, b) for b in buildings])}


def _natural(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)
