"""Related alarms grouped into one incident (pure).

Several detectors of one fire, or the devices of a building that lost power, are one incident.
A child ticket points at its parent (``incident_id``): the smoke alarms of a fire's floor keep
their own tickets (each detector's household may need its own visit), linked to the fire. The
consequences of an incident are inhibited: a per-device offline alarm under an offline cluster,
or a second confirmation of the same fire, opens no ticket of its own and is recorded on the
parent's timeline. Active child tickets opened before their parent are linked when it opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from gongzhi.devices.registry import Location
from gongzhi.hub.tickets import Ticket


class Place(StrEnum):
    FLOOR = "floor"  # same estate, building, unit and floor
    BUILDING = "building"  # same estate and building


@dataclass(frozen=True, slots=True)
class GroupRule:
    id: str
    parents: frozenset[str]
    children: frozenset[str]
    place: Place
    inhibit: bool  # True: the child opens no ticket; False: its ticket is linked


GROUPS: tuple[GroupRule, ...] = (
    # A confirmed fire: another confirmation on its floor is the same fire ...
    GroupRule("fire_floor", frozenset({"fire"}), frozenset({"fire"}), Place.FLOOR, True),
    # ... and the smoke alarms of its floor belong to it.
    GroupRule("fire_floor_smoke", frozenset({"fire"}), frozenset({"smoke_alarm"}), Place.FLOOR,
              False),
    # A building's devices gone at once (power cut, backbone): per-device offline alarms are
    # its consequences.
    GroupRule("offline_cluster_building", frozenset({"offline_cluster"}),
              frozenset({"device_offline"}), Place.BUILDING, True),
)


def parent_kinds(kind: str) -> frozenset[str]:
    """Kinds of ticket an alarm of ``kind`` may belong to."""
    return frozenset().union(*(r.parents for r in GROUPS if kind in r.children))


def child_kinds(kind: str) -> frozenset[str]:
    """Kinds of ticket a ticket of ``kind`` takes into its incident."""
    return frozenset().union(*(r.children for r in GROUPS if kind in r.parents))


def same_place(a: Location, b: Location, place: Place) -> bool:
    if (a.estate_id, a.building) != (b.estate_id, b.building) or not a.building:
        return False
    return place is Place.BUILDING or (a.unit, a.floor) == (b.unit, b.floor)


def parent_for(kind: str, device_id: str, location: Location,
               active: Iterable[Ticket]) -> tuple[Ticket, GroupRule] | None:
    """The active ticket an alarm of ``kind`` at ``location`` belongs to, if any."""
    for rule in GROUPS:
        if kind not in rule.children:
            continue
        for ticket in active:
            if (ticket.active and ticket.kind in rule.parents and ticket.device_id != device_id
                    and ticket.incident_id is None
                    and same_place(ticket.location, location, rule.place)):
                return ticket, rule
    return None


def children_of(parent: Ticket, active: Iterable[Ticket]) -> list[tuple[Ticket, GroupRule]]:
    """Active tickets that a newly opened ``parent`` takes into its incident."""
    found: list[tuple[Ticket, GroupRule]] = []
    for rule in GROUPS:
        if parent.kind not in rule.parents:
            continue
        for ticket in active:
            if (ticket.id != parent.id and ticket.active and ticket.kind in rule.children
                    and ticket.incident_id is None
                    and same_place(ticket.location, parent.location, rule.place)):
                found.append((ticket, rule))
    return found
