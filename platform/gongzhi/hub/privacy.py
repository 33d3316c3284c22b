"""Who sees which ticket, and how much of it (PIPL art. 28 and 51; GB/T 35273 §7.1).

A party sees the tickets it is assigned or notified of; the NPC deputies' liaison station sees
overdue and escalated tickets. Personal data (household flags, household id, room, phone) goes
only to the parties whose duty needs it, and phone numbers are always masked.

The evidence of a welfare check is a person's daily life at home (when they got up, when they
last switched something on): only the residents' committee, whose visit it calls for, and the
police room, once the ticket has passed to it (forced entry), see it. Every other party (and so
the supervision view) gets it withheld, in the ticket and in its timeline.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.registry import DeviceRecord, Location
from gongzhi.hub.action_matrix import Role, allowed_actions, role_of
from gongzhi.hub.parties import SUPERVISORS, Party
from gongzhi.hub.store.records import DeviceState
from gongzhi.hub.tickets import Ticket, TimelineEntry


class Access(IntEnum):
    """How much personal data a party gets."""

    NONE = 0  # no personal data: not even the room
    LOCATION = 1  # where, down to the room; no household flags, household id or phone
    FULL = 2  # everything, phone masked


PERSONAL_ACCESS: dict[str, Access] = {
    Party.PROPERTY_OFFICE: Access.FULL,  # first response
    Party.POLICE_ROOM: Access.FULL,  # life safety, forced entry
    Party.RESIDENTS_COMMITTEE: Access.FULL,  # welfare checks of elderly people living alone
    Party.PARTY_COMMITTEE: Access.LOCATION,  # coordinates escalated incidents
    Party.OWNERS_COMMITTEE: Access.NONE,  # maintenance-fund items and aggregates
    Party.NPC_LIAISON: Access.NONE,  # supervision
}

# What each party's pages are for (``GET /api/me``).
VIEWS: dict[str, tuple[str, ...]] = {
    Party.PROPERTY_OFFICE: ("wall", "tickets", "devices", "stats"),
    Party.POLICE_ROOM: ("police", "tickets", "devices", "stats"),
    Party.RESIDENTS_COMMITTEE: ("tickets", "devices", "stats"),
    Party.OWNERS_COMMITTEE: ("tickets", "stats"),
    Party.PARTY_COMMITTEE: ("tickets", "stats"),
    Party.NPC_LIAISON: ("supervision", "stats"),
}


# Kinds whose evidence is personal data, and the parties that may read it.
PERSONAL_EVIDENCE: dict[str, frozenset[str]] = {
    AlarmKind.WELFARE_CHECK: frozenset({Party.RESIDENTS_COMMITTEE, Party.POLICE_ROOM}),
}
WITHHELD = {"withheld": "personal_activity"}


def sees_evidence(ticket: Ticket, party: str) -> bool:
    readers = PERSONAL_EVIDENCE.get(ticket.kind)
    return readers is None or party in readers


def ticket_evidence(ticket: Ticket, party: str) -> dict[str, Any]:
    return dict(ticket.evidence) if sees_evidence(ticket, party) else dict(WITHHELD)


def access_of(party: str) -> Access:
    return PERSONAL_ACCESS.get(party, Access.NONE)


def supervises(party: str) -> bool:
    """Sees every overdue or escalated ticket, notified or not."""
    return party in SUPERVISORS


def can_see(ticket: Ticket, party: str) -> bool:
    """Assigned, notified, or supervising an overdue or escalated ticket."""
    return role_of(ticket, party) is not Role.UNRELATED


def mask_phone(phone: str | None) -> str | None:
    """138****1234: the first three and last four digits stay, as on Chinese screens."""
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) < 8:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


def shows_personal_data(party: str) -> bool:
    return access_of(party) is not Access.NONE


def public_location(loc: Location, access: Access) -> dict[str, str | None]:
    return {
        "estate_id": loc.estate_id,
        "building": loc.building or None,
        "unit": loc.unit or None,
        "floor": loc.floor or None,
        "room": (loc.room or None) if access >= Access.LOCATION else None,
    }


def public_ticket(ticket: Ticket, party: str) -> dict[str, Any]:
    """The ticket as ``party`` may see it, with what it may do to it now (the TicketPublic
    schema)."""
    access = access_of(party)
    loc = ticket.location
    full = access is Access.FULL
    return {
        "id": ticket.id,
        "kind": ticket.kind,
        "severity": ticket.severity,
        "status": ticket.status.value,
        "assignee": ticket.assignee,
        "notified": list(ticket.notified),
        "device_id": ticket.device_id,
        "location": public_location(loc, access),
        "opened_at": ticket.opened_at,
        "first_seen": ticket.first_seen,
        "last_seen": ticket.last_seen,
        "updated_at": ticket.updated_at,
        "occurrences": ticket.occurrences,
        "due_at": ticket.due_at,
        "ack_due_at": ticket.ack_due_at,
        "on_site_due_at": ticket.on_site_due_at,
        "resolve_due_at": ticket.resolve_due_at,
        "escalation_level": ticket.escalation_level,
        "overdue": ticket.overdue,
        "breaches": list(ticket.breaches),
        "rule_id": ticket.route_id,
        "converted_from": ticket.converted_from,
        "incident_id": ticket.incident_id,
        "acknowledged_at": ticket.acknowledged_at,
        "on_site_at": ticket.on_site_at,
        "closed_at": ticket.closed_at,
        "evidence": ticket_evidence(ticket, party),
        "elderly_alone": ticket.elderly_alone if full else None,
        "household": ticket.household if full else None,
        "phone": mask_phone(ticket.phone) if full else None,
        "allowed_actions": [a.value for a in allowed_actions(ticket, party)],
    }


def public_entry(entry: TimelineEntry, evidence: bool = True) -> dict[str, Any]:
    """A timeline entry; ``evidence`` False (``sees_evidence``) withholds an alarm's evidence."""
    data = dict(entry.data)
    if not evidence and "evidence" in data:
        data["evidence"] = dict(WITHHELD)
    return {
        "ts": entry.ts_ms,
        "type": entry.type.value,
        "actor": entry.actor,
        "action": entry.action,
        "note": entry.note,
        "rule_id": entry.rule_id,
        "data": data,
    }


def public_device(record: DeviceRecord, state: DeviceState | None, party: str) -> dict[str, Any]:
    access = access_of(party)
    full = access is Access.FULL
    loc = record.location
    return {
        "device_id": record.device_id,
        "type": record.type.value,
        "location": public_location(loc, access),
        "riser": record.riser,
        "position": record.position,
        "online": state.online if state else None,
        "last_seen_ms": state.last_seen_ms if state else None,
        "values": dict(state.values) if state else {},
        "values_ts_ms": state.values_ts_ms if state else None,
        "elderly_alone": record.elderly_alone if full else None,
        "household": record.household if full else None,
        "phone": mask_phone(record.phone) if full else None,
    }
