"""Alarms from the gateway: exactly one ticket per alarm id, however often it is delivered.

An alarm names a device of the registry, in the estate the registry has it in. The one alarm
without a device, a building's ``offline_cluster``, names ``<estate_id>:<building>`` of a
building the registry has devices in (a fire is named after its first detector, a device). Any
other alarm is refused with 422 and its reason, and counted in
``gongzhi_alarms_refused_total{reason}``: no ticket comes to exist for a device nobody installed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.devices.registry import Registry
from gongzhi.hub.deps import GatewayPrincipal, HubDep, RegistryDep, ServiceDep
from gongzhi.hub.routes.away import BookDep
from gongzhi.hub.schemas import AlarmAccepted, AlarmIn

router = APIRouter(prefix="/api", tags=["gateway"])


def refusal(alarm: Alarm, registry: Registry) -> tuple[str, str] | None:
    """(reason, message) when the alarm's subject is not in the registry; else None."""
    if alarm.kind is AlarmKind.OFFLINE_CLUSTER:
        building = alarm.building or ""
        if alarm.device_id != f"{alarm.estate_id}:{building}":
            return ("bad_cluster_subject",
                    f"an offline_cluster alarm names '<estate_id>:<building>' "
                    f"({alarm.estate_id}:{building}), not {alarm.device_id!r}")
        if not registry.in_building(alarm.estate_id, building):
            return ("unregistered_building",
                    f"the registry has no device in building {building!r} of estate "
                    f"{alarm.estate_id!r}")
        return None
    record = registry.get(alarm.device_id)
    if record is None:
        return "unregistered_device", f"device {alarm.device_id!r} is not in the registry"
    if record.location.estate_id != alarm.estate_id:
        return ("estate_mismatch",
                f"device {alarm.device_id!r} is in estate {record.location.estate_id!r}, "
                f"not {alarm.estate_id!r}")
    return None


@router.post("/alarms", response_model=AlarmAccepted)
def receive_alarm(body: AlarmIn, _gateway: GatewayPrincipal, service: ServiceDep,
                  registry: RegistryDep, hub: HubDep, book: BookDep) -> dict[str, Any]:
    """Body: ``Alarm.to_dict()``. A new alarm opens a ticket or adds an occurrence to the active
    ticket of its device and kind; a repeat answers with the same ticket; ``state: clear`` is
    recorded on the ticket's timeline and does not close it. An alarm of a device the registry
    lacks (or of a building without devices, for ``offline_cluster``) is refused with 422. A
    welfare check inside the household's declared absence is held by it: no ticket
    (``ticket_id`` null)."""
    alarm = Alarm.from_dict(body.model_dump(mode="json"))
    refused = refusal(alarm, registry)
    if refused is not None:
        reason, message = refused
        hub.metrics.inc("gongzhi_alarms_refused_total", reason=reason)
        raise RequestValidationError([{"loc": ("body", "device_id"), "msg": message,
                                       "type": reason}])
    if book.hold(alarm, registry) is not None:
        hub.metrics.inc("gongzhi_alarms_held_total", reason="declared_away")
        return {"ticket_id": None, "created": False, "duplicate": False}
    outcome = service.receive_alarm(alarm)
    return {"ticket_id": outcome.ticket_id, "created": outcome.created,
            "duplicate": outcome.duplicate}
