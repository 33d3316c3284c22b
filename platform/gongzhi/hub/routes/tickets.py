"""Tickets: the list a party may see, one ticket with its timeline, and actions on it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gongzhi.hub.deps import CurrentParty, ServiceDep
from gongzhi.hub.lifecycle import allowed_actions
from gongzhi.hub.privacy import public_entry, public_ticket
from gongzhi.hub.schemas import MAX_INT, ActionCreate, TicketDetail, TicketPublic

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
            "timeline": [public_entry(e) for e in timeline],
            "allowed_actions": [a.value for a in allowed_actions(ticket)]}


@router.get("/{ticket_id}", response_model=TicketDetail,
            responses={404: {"description": "no such ticket for this party"}})
def get_ticket(ticket_id: TicketId, party: CurrentParty, service: ServiceDep) -> dict[str, Any]:
    """One ticket with its timeline: alarms, routing decisions (with rule ids), escalations and
    actions (actor, time, note)."""
    return _detail(service, party, ticket_id)


@router.post("/{ticket_id}/actions", response_model=TicketDetail,
             responses={404: {"description": "no such ticket for this party"},
                        409: {"description": "the action is not possible in this state"},
                        403: {"description": "the party may only read"}})
def act(ticket_id: TicketId, body: ActionCreate, party: CurrentParty,
        service: ServiceDep) -> dict[str, Any]:
    """Acknowledge, dispatch, arrive, resolve, mark a false alarm, or comment."""
    service.act(ticket_id, party, body.action, body.note)
    return _detail(service, party, ticket_id)
