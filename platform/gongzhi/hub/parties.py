"""The six parties of the 1+6 co-governance model (docs/domain.md) and the gateway principal."""

from __future__ import annotations

from enum import StrEnum


class Party(StrEnum):
    PROPERTY_OFFICE = "property_office"
    POLICE_ROOM = "police_room"
    RESIDENTS_COMMITTEE = "residents_committee"
    OWNERS_COMMITTEE = "owners_committee"
    PARTY_COMMITTEE = "party_committee"
    NPC_LIAISON = "npc_liaison"


PARTY_IDS: frozenset[str] = frozenset(p.value for p in Party)

# Supervision: the NPC deputies' liaison station sees overdue and escalated tickets and only
# reads; the duty matrix cannot make it an assignee or an escalation target.
SUPERVISORS: frozenset[str] = frozenset({Party.NPC_LIAISON.value})

# The machine principal that delivers alarms and device states; it is not a party and sees no
# tickets.
GATEWAY = "gateway"
