"""Who sees which ticket and which personal data (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hub_helpers import make_ticket

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location
from gongzhi.hub.privacy import can_see, mask_phone, public_device, public_ticket
from gongzhi.hub.store.records import DeviceState


@pytest.mark.parametrize(("raw", "masked"), [
    ("13812341234", "138****1234"), ("+86 138-1234-1234", "861****1234"),
    ("1234", "****"), (None, None), ("", None),
])
def test_mask_phone(raw: str | None, masked: str | None):
    assert mask_phone(raw) == masked


def test_visibility_follows_assignment_notification_and_supervision():
    ticket = make_ticket("tamper")  # police_room, notified property_office
    seen = {p for p in ("property_office", "police_room", "residents_committee",
                        "owners_committee", "party_committee", "npc_liaison")
            if can_see(ticket, p)}
    assert seen == {"police_room", "property_office"}
    assert can_see(replace(ticket, breaches=("ack",)), "npc_liaison")
    assert can_see(replace(ticket, escalation_level=1), "npc_liaison")
    assert not can_see(replace(ticket, escalation_level=1), "owners_committee")


PERSONAL = ("elderly_alone", "household", "phone")


@pytest.mark.parametrize(("party", "room", "personal"), [
    ("property_office", "301", True), ("police_room", "301", True),
    ("residents_committee", "301", True), ("party_committee", "301", False),
    ("owners_committee", None, False), ("npc_liaison", None, False),
])
def test_personal_data_per_party(party: str, room: str | None, personal: bool):
    shown = public_ticket(make_ticket(elderly=True), party)
    assert shown["location"]["room"] == room
    assert shown["location"]["building"] == "B1"
    if personal:
        assert (shown["elderly_alone"], shown["household"], shown["phone"]) == (
            True, "H1", "138****1234")
    else:
        assert all(shown[k] is None for k in PERSONAL)
    assert "13812341234" not in str(shown)


def test_devices_are_masked_the_same_way():
    record = DeviceRecord("d1", DeviceType.SMOKE, Location("e", "B1", "U1", "3", "301"),
                          elderly_alone=True, household="H1", phone="13812341234")
    state = DeviceState("d1", True, 5, {"smoke_db_m": 0.01}, 5)
    office = public_device(record, state, "property_office")
    assert (office["online"], office["phone"], office["elderly_alone"]) == (
        True, "138****1234", True)
    npc = public_device(record, None, "npc_liaison")
    assert (npc["online"], npc["phone"], npc["elderly_alone"], npc["location"]["room"]) == (
        None, None, None, None)
