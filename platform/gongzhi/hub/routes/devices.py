"""Devices: registry entries with online state and latest values reported by the gateway.

The gateway's reports are kept only for devices of the registry: a state of any other device is
refused (the rest of its batch is kept), counted in
``gongzhi_device_states_refused_total{reason="unregistered_device"}`` and named in the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from gongzhi.hub.deps import CurrentParty, GatewayPrincipal, HubDep, RegistryDep, ServiceDep
from gongzhi.hub.privacy import public_device
from gongzhi.hub.schemas import (
    MAX_NAMED_REFUSALS,
    DevicePublic,
    DeviceStatesAccepted,
    DeviceStatesIn,
)
from gongzhi.hub.store.records import DeviceState

router = APIRouter(prefix="/api", tags=["devices"])


@router.post("/device-states", response_model=DeviceStatesAccepted, tags=["gateway"])
def put_device_states(body: DeviceStatesIn, _gateway: GatewayPrincipal, service: ServiceDep,
                      registry: RegistryDep, hub: HubDep) -> dict[str, Any]:
    """Online state and latest values; an older report never overwrites a newer one. States of
    devices the registry lacks are refused and named in ``unregistered``."""
    known = [d for d in body.devices if d.device_id in registry]
    unknown = sorted({d.device_id for d in body.devices if d.device_id not in registry})
    if unknown:
        hub.metrics.inc("gongzhi_device_states_refused_total", len(body.devices) - len(known),
                        reason="unregistered_device")
    states = [DeviceState(d.device_id, d.online, d.last_seen_ms, d.values, d.values_ts_ms)
              for d in known]
    accepted = service.put_device_states(states) if states else 0
    return {"accepted": accepted, "refused": len(body.devices) - len(known),
            "unregistered": unknown[:MAX_NAMED_REFUSALS]}


@router.get("/devices", response_model=list[DevicePublic])
def list_devices(
    party: CurrentParty,
    service: ServiceDep,
    registry: RegistryDep,
    estate_id: str | None = None,
    building: str | None = None,
    type: Annotated[str | None, Query(description="smoke, water_pressure or electrical")]
    = None,
    online: bool | None = None,
) -> list[dict[str, Any]]:
    records = [r for r in registry
               if (estate_id is None or r.location.estate_id == estate_id)
               and (building is None or r.location.building == building)
               and (type is None or r.type.value == type)]
    states = service.device_states(None if len(records) > 200 else
                                   [r.device_id for r in records], party)
    shown = [public_device(r, states.get(r.device_id), party) for r in records]
    return [d for d in shown if online is None or d["online"] is online]


@router.get("/devices/{device_id}", response_model=DevicePublic,
            responses={404: {"description": "not in the registry"}})
def get_device(device_id: str, party: CurrentParty, service: ServiceDep,
               registry: RegistryDep) -> dict[str, Any]:
    record = registry.get(device_id)
    if record is None:
        raise HTTPException(404, f"no device {device_id!r} in the registry")
    states = service.device_states([device_id], party)
    return public_device(record, states.get(device_id), party)
