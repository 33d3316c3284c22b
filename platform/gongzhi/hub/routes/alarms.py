"""Alarms from the gateway: exactly one ticket per alarm id, however often it is delivered."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gongzhi.core.alarms import Alarm
from gongzhi.hub.deps import GatewayPrincipal, ServiceDep
from gongzhi.hub.schemas import AlarmAccepted, AlarmIn

router = APIRouter(prefix="/api", tags=["gateway"])


@router.post("/alarms", response_model=AlarmAccepted)
def receive_alarm(body: AlarmIn, _gateway: GatewayPrincipal,
                  service: ServiceDep) -> dict[str, Any]:
    """Body: ``Alarm.to_dict()``. A new alarm opens a ticket or adds an occurrence to the active
    ticket of its device and kind; a repeat answers with the same ticket; ``state: clear`` is
    recorded on the ticket's timeline and does not close it."""
    outcome = service.receive_alarm(Alarm.from_dict(body.model_dump(mode="json")))
    return {"ticket_id": outcome.ticket_id, "created": outcome.created,
            "duplicate": outcome.duplicate}
