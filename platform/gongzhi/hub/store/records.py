"""Rows the store hands out besides tickets, and the ticket's JSON form (event snapshots)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gongzhi.devices.registry import Location
from gongzhi.hub.tickets import Status, Ticket


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery of an alarm state, remembered so a repeat is recognised."""

    alarm_id: str
    state: str
    kind: str
    device_id: str
    household: str | None
    riser: str | None
    building: str | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """A change of a ticket, numbered in commit order; ``ticket`` is the state after it."""

    seq: int
    ticket_id: int
    ts_ms: int
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class DeviceState:
    device_id: str
    online: bool | None
    last_seen_ms: int | None
    values: Mapping[str, float] = field(default_factory=dict)
    values_ts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts_ms: int
    actor: str
    action: str  # "read" (personal data shown) or an action name
    ticket_id: int | None = None
    device_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookJob:
    id: int
    party: str
    url: str
    body: str
    attempts: int


def ticket_record(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id, "kind": t.kind, "severity": t.severity, "status": t.status.value,
        "assignee": t.assignee, "notified": list(t.notified), "chain": list(t.chain),
        "device_id": t.device_id, "location": t.location.to_dict(),
        "elderly_alone": t.elderly_alone, "household": t.household, "riser": t.riser,
        "phone": t.phone, "opened_at": t.opened_at, "first_seen": t.first_seen,
        "last_seen": t.last_seen, "updated_at": t.updated_at, "occurrences": t.occurrences,
        "route_id": t.route_id, "ack_due_at": t.ack_due_at, "on_site_due_at": t.on_site_due_at,
        "resolve_due_at": t.resolve_due_at, "convert_at": t.convert_at,
        "convert_to": t.convert_to, "breaches": list(t.breaches),
        "escalation_level": t.escalation_level, "acknowledged_at": t.acknowledged_at,
        "on_site_at": t.on_site_at, "closed_at": t.closed_at,
        "converted_from": t.converted_from, "open_key": t.open_key,
        "evidence": dict(t.evidence), "incident_id": t.incident_id, "version": t.version,
    }


def ticket_from_record(d: Mapping[str, Any]) -> Ticket:
    loc = d["location"]
    return Ticket(
        id=int(d["id"]), kind=d["kind"], severity=d["severity"], status=Status(d["status"]),
        assignee=d["assignee"], notified=tuple(d["notified"]), chain=tuple(d["chain"]),
        device_id=d["device_id"],
        location=Location(loc["estate_id"], loc["building"], loc["unit"], loc["floor"],
                          loc["room"]),
        elderly_alone=bool(d["elderly_alone"]), household=d["household"], riser=d["riser"],
        phone=d["phone"], opened_at=d["opened_at"], first_seen=d["first_seen"],
        last_seen=d["last_seen"], updated_at=d["updated_at"], occurrences=d["occurrences"],
        route_id=d["route_id"], ack_due_at=d["ack_due_at"], on_site_due_at=d["on_site_due_at"],
        resolve_due_at=d["resolve_due_at"], convert_at=d["convert_at"],
        convert_to=d["convert_to"], breaches=tuple(d["breaches"]),
        escalation_level=d["escalation_level"], acknowledged_at=d["acknowledged_at"],
        on_site_at=d["on_site_at"], closed_at=d["closed_at"],
        converted_from=d["converted_from"], open_key=d["open_key"],
        evidence=d["evidence"], incident_id=d.get("incident_id"), version=d["version"],
    )
