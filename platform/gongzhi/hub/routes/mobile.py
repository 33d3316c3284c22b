"""The mobile page of one ticket, opened from the signed link in a notification: the person
it was sent to acts on that ticket as their party would — acknowledge, dispatch, on site,
resolve, comment — through the same service and action matrix, without the party's token.

The link's token travels in the page's fragment (never in a request line or an access log) and
reaches the API in the ``X-Gongzhi-Link`` header. A forged, expired or other-ticket link, or one
for a person no longer on the party's roster, is refused with 403 and the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, status
from fastapi.responses import Response

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.errors import AccessDenied
from gongzhi.hub.away_store import SqlAbsences
from gongzhi.hub.deps import HubDep, RegistryDep
from gongzhi.hub.notify.links import LinkGrant, LinkRefusal, LinkRefused
from gongzhi.hub.notify.roster import Person
from gongzhi.hub.notify.roster_desk import DutyDesk, get_desk
from gongzhi.hub.privacy import public_entry, public_ticket, sees_evidence
from gongzhi.hub.routes.away import DECLARES, BookDep, declare_checked, public_absence
from gongzhi.hub.routes.household_guards import require_party
from gongzhi.hub.routes.pages import STATIC_DIR, _file_response
from gongzhi.hub.routes.tickets import TicketId
from gongzhi.hub.schemas import (
    ActionCreate,
    HouseholdNote,
    Millis,
    Refused,
    Strict,
)
from gongzhi.hub.tickets import Ticket

router = APIRouter(tags=["mobile"])

DeskDep = Annotated[DutyDesk, Depends(get_desk)]
LinkHeader = Annotated[str | None, Header(alias="X-Gongzhi-Link", max_length=512,
                                          description="the token of the signed link")]

REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"model": Refused, "description": "the link does not open this ticket: "
          + ", ".join(r.value for r in LinkRefusal)
          + "; or the action matrix refuses the party (`not_assignee`)"},
    404: {"description": "no such ticket for the link's party"}}


@router.get("/m/{ticket_id}", include_in_schema=False)
def mobile_page(ticket_id: TicketId) -> Response:
    """The page; it reads the token from its fragment and asks the API below."""
    return _file_response(STATIC_DIR / "mobile.html", cache="no-cache")


def _grant(hub: HubDep, desk: DeskDep, ticket_id: int,
           token: str | None) -> tuple[LinkGrant, Person]:
    try:
        if not token:
            raise LinkRefused(LinkRefusal.MALFORMED, "open the page from the link you were sent")
        grant = desk.links.verify(token, ticket_id, hub.clock.now_ms())
        person = desk.rosters.person(grant.recipient.party, grant.recipient.person)
        if person is None:
            raise LinkRefused(LinkRefusal.UNKNOWN_PERSON,
                              f"{grant.recipient.person} is no longer on the duty roster of "
                              f"{grant.recipient.party}")
    except LinkRefused as refused:
        hub.metrics.inc("gongzhi_link_refusals_total", reason=refused.reason.value)
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            {"reason": refused.reason.value, "message": refused.message}) from None
    return grant, person


def _view(hub: HubDep, grant: LinkGrant, person: Person, book: SqlAbsences) -> dict[str, Any]:
    party = grant.recipient.party
    ticket, timeline = hub.service.ticket_for(party, grant.ticket_id)
    return {"ticket": public_ticket(ticket, party),
            "timeline": [public_entry(e, sees_evidence(ticket, party)) for e in timeline],
            "person": {"id": person.id, "name": person.name, "language": person.language},
            "party": party, "expires_at": grant.expires_at,
            "absence": _absence_of(book, ticket, party, hub.clock.now_ms())}


def _absence_of(book: SqlAbsences, ticket: Ticket, party: str,
                now: int) -> dict[str, Any] | None:
    """For the committee's welfare check, the household's absence not over yet (the first),
    so the page says the trip is declared; None otherwise."""
    if party not in DECLARES or ticket.kind != AlarmKind.WELFARE_CHECK or not ticket.household:
        return None
    current = [a for a in book.of_household(ticket.location.estate_id, ticket.household)
               if a.until > now]
    return public_absence(min(current, key=lambda a: a.starts_at)) if current else None


@router.get("/api/m/{ticket_id}", tags=["mobile"], responses=REFUSALS)
def mobile_ticket(ticket_id: TicketId, hub: HubDep, desk: DeskDep, book: BookDep,
                  link: LinkHeader = None) -> dict[str, Any]:
    """The link's ticket as its party sees it, with what the person may do now (and, for a
    welfare check, the household's declared absence)."""
    grant, person = _grant(hub, desk, ticket_id, link)
    return _view(hub, grant, person, book)


@router.post("/api/m/{ticket_id}/actions", tags=["mobile"],
             responses={**REFUSALS, 409: {"description": "not possible in the ticket's state"}})
def mobile_act(ticket_id: TicketId, body: ActionCreate, hub: HubDep, desk: DeskDep,
               book: BookDep, link: LinkHeader = None) -> dict[str, Any]:
    """An action of the link's person, as their party, recorded with their name."""
    grant, person = _grant(hub, desk, ticket_id, link)
    try:
        hub.service.act(ticket_id, grant.recipient.party, body.action, body.note,
                        by={"person": person.id, "name": person.name, "via": "link"})
    except AccessDenied as refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            {"reason": refused.reason, "message": str(refused)}) from None
    return _view(hub, grant, person, book)


class AwayFromLink(Strict):
    ends_at: Millis
    note: HouseholdNote = ""


@router.post("/api/m/{ticket_id}/away", tags=["mobile"], status_code=status.HTTP_201_CREATED,
             responses={**REFUSALS,
                        409: {"model": Refused, "description": "`not_welfare_check`: the "
                              "link's ticket is not a welfare check of a household"},
                        422: {"description": "`bad_span`, or a malformed body"}})
def mobile_declare_away(ticket_id: TicketId, body: AwayFromLink, hub: HubDep, desk: DeskDep,
                        book: BookDep, registry: RegistryDep,
                        link: LinkHeader = None) -> dict[str, Any]:
    """The visit of the link's welfare check found the person away (a neighbour knows they
    went to family): the residents' committee's person declares the household's absence from
    now until ``ends_at``, and the rest of the trip raises no ticket. The ticket itself is
    resolved as any other."""
    grant, person = _grant(hub, desk, ticket_id, link)
    party = grant.recipient.party
    require_party(party, DECLARES, "declare absences")
    ticket, _ = hub.service.ticket_for(party, ticket_id)
    if ticket.kind != AlarmKind.WELFARE_CHECK or not ticket.household:
        raise HTTPException(status.HTTP_409_CONFLICT, {
            "reason": "not_welfare_check",
            "message": "an absence is declared from a welfare check of a household"})
    now = hub.clock.now_ms()
    declare_checked(book, registry, ticket.location.estate_id, ticket.household, now,
                    body.ends_at, party, body.note, now, person=person.id)
    return _view(hub, grant, person, book)
