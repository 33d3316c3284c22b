"""Alarms from the gateway in batches: what a storm (a district's power cut, a broker restart)
sends, taken at the pace of one transaction per batch rather than one per alarm.

Each alarm of a batch gets its own answer, in the order sent: ``stored`` (a new ticket or an
occurrence), ``duplicate`` (delivered before: the same ticket), ``refused`` with a reason (not
an alarm, or a subject the registry lacks, as ``POST /api/alarms`` refuses it with 422; counted
in ``gongzhi_alarms_refused_total{reason}``), or ``retry``. A welfare check held by a declared
absence is ``stored`` with no ticket (``gongzhi.hub.away``). One bad alarm never refuses the
batch; a database that cannot be reached answers 503 for all of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from gongzhi.core.alarms import Alarm
from gongzhi.hub.deps import GatewayPrincipal, HubDep, RegistryDep, ServiceDep
from gongzhi.hub.routes.alarms import refusal
from gongzhi.hub.routes.away import BookDep
from gongzhi.hub.schemas import AlarmBatchAccepted, AlarmBatchIn, AlarmIn

router = APIRouter(prefix="/api", tags=["gateway"])

INVALID = "invalid_alarm"


def _invalid(error: ValidationError) -> str:
    """The first problem and where it is, without the input (it may be large)."""
    first = error.errors(include_input=False)[0]
    place = ".".join(str(part) for part in first["loc"]) or "alarm"
    return f"{place}: {first['msg']}"


@router.post("/alarms/batch", response_model=AlarmBatchAccepted)
def receive_alarm_batch(body: AlarmBatchIn, _gateway: GatewayPrincipal, service: ServiceDep,
                        registry: RegistryDep, hub: HubDep, book: BookDep) -> dict[str, Any]:
    """Body: ``{"alarms": [Alarm.to_dict(), ...]}`` (at most 500). Each alarm is taken as
    ``POST /api/alarms`` takes it (exactly one ticket per alarm id, however often and in
    however many batches it comes); the answer has one result per alarm, in order."""
    results: list[dict[str, Any] | None] = []
    accepted: list[tuple[int, Alarm]] = []
    for entry in body.alarms:
        try:
            alarm = Alarm.from_dict(AlarmIn.model_validate(entry).model_dump(mode="json"))
        except ValidationError as error:
            hub.metrics.inc("gongzhi_alarms_refused_total", reason=INVALID)
            results.append({"alarm_id": None, "result": "refused", "ticket_id": None,
                            "created": False, "reason": INVALID, "message": _invalid(error)})
            continue
        refused = refusal(alarm, registry)
        if refused is not None:
            hub.metrics.inc("gongzhi_alarms_refused_total", reason=refused[0])
            results.append({"alarm_id": alarm.alarm_id, "result": "refused", "ticket_id": None,
                            "created": False, "reason": refused[0], "message": refused[1]})
            continue
        if book.hold(alarm, registry) is not None:
            hub.metrics.inc("gongzhi_alarms_held_total", reason="declared_away")
            results.append({"alarm_id": alarm.alarm_id, "result": "stored", "ticket_id": None,
                            "created": False})
            continue
        accepted.append((len(results), alarm))
        results.append(None)
    outcomes = service.receive_alarms([alarm for _, alarm in accepted])
    for (index, alarm), outcome in zip(accepted, outcomes, strict=True):
        if outcome.error is not None:
            result = {"result": "retry", "reason": "not_stored", "message": outcome.error}
        else:
            result = {"result": "duplicate" if outcome.duplicate else "stored"}
        results[index] = {"alarm_id": alarm.alarm_id, "ticket_id": outcome.ticket_id,
                          "created": outcome.created, **result}
    return {"results": results}
