"""Tickets: the list a party may see, one ticket with its timeline, and actions on it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from gongzhi.core.errors import AccessDenied
from gongzhi.hub.deps import CurrentParty, ServiceDep
from gongzhi.hub.privacy import public_entry, public_ticket, sees_evidence
from gongzhi.hub.schemas import MAX_INT, ActionCreate, Refused, TicketDetail, TicketPublic

router = APIRouter(prefix="/api/tickets", tags=["tickets"])
TicketId = Annotated[int, Path(ge=1, le=MAX_INT)]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.get("", response_model=list[TicketPublic])
def list_tickets(
    party: CurrentParty,
    service: ServiceDep,
    status: Annotated[str | None, Query(description="one status or several, comma-separated")]
    = None,
    kind: Annotated[str | None, Query(description="one kind or several, comma-separated")]
    = None,
    since: Annotated[int | None, Query(description="changed at or after (epoch ms)", ge=0,
                                       le=MAX_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """The tickets the caller's party may see, newest first."""
    tickets = service.tickets_for(party, statuses=_split(status), kinds=_split(kind),
                                  since=since, limit=limit)
    return [public_ticket(t, party) for t in tickets]


def _detail(service: ServiceDep, party: str, ticket_id: int) -> dict[str, Any]:
    ticket, timeline = service.ticket_for(party, ticket_id)
    return {**public_ticket(ticket, party),
            "timeline": [public_entry(e, sees_evidence(ticket, party)) for e in timeline]}


@router.get("/{ticket_id}", response_model=TicketDetail,
            responses={404: {"description": "no such ticket for this party"}})
def get_ticket(ticket_id: TicketId, party: CurrentParty, service: ServiceDep) -> dict[str, Any]:
    """One ticket with its timeline: alarms, routing decisions (with rule ids), escalations and
    actions (actor, time, note)."""
    return _detail(service, party, ticket_id)


@router.post("/{ticket_id}/actions", response_model=TicketDetail,
             responses={
                 404: {"description": "no such ticket for this party"},
                 409: {"description": "the action is not possible in the ticket's state"},
                 403: {"model": Refused,
                       "description": "the action matrix does not allow the action to the "
                                      "party: `read_only` (supervision), `not_assignee` (only "
                                      "the party holding the ticket moves it)"}})
def act(ticket_id: TicketId, body: ActionCreate, party: CurrentParty,
        service: ServiceDep) -> dict[str, Any]:
    """Acknowledge, dispatch, arrive, resolve, mark a false alarm, or comment. The party
    holding the ticket (its assignee, or the escalation target that took it over) moves it;
    notified parties comment, and acknowledge their own part where they have one; the
    supervision station reads only. `allowed_actions` of a ticket says what the caller may do."""
    try:
        service.act(ticket_id, party, body.action, body.note)
    except AccessDenied as refused:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            {"reason": refused.reason, "message": str(refused)}) from None
    return _detail(service, party, ticket_id)
