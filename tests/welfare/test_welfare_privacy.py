"""Who reads a welfare check's evidence (a person's day at home): the residents' committee and
the police room, never another party or the supervision view; other kinds are unchanged."""

from __future__ import annotations

import pytest

from gongzhi.hub.parties import Party
from gongzhi.hub.privacy import WITHHELD, public_entry, public_ticket, sees_evidence
from gongzhi.hub.tickets import EntryType, TimelineEntry
from tests.hub.hub_helpers import make_ticket

ACTIVITY = {"rule": "first_activity", "last_activity_at_ms": 1_000, "expected_by": "10:00"}
READERS = {Party.RESIDENTS_COMMITTEE, Party.POLICE_ROOM}


@pytest.mark.parametrize("party", list(Party))
def test_welfare_evidence_reaches_the_committee_and_the_police_room_only(party: Party) -> None:
    ticket = make_ticket("welfare_check", elderly=True, evidence=ACTIVITY)
    shown = public_ticket(ticket, party)["evidence"]
    entry = TimelineEntry(1_000_000, EntryType.ALARM, "gateway",
                          data={"alarm_id": "al-1", "evidence": ACTIVITY})
    in_timeline = public_entry(entry, sees_evidence(ticket, party))["data"]["evidence"]
    if party in READERS:
        assert shown == ACTIVITY and in_timeline == ACTIVITY
    else:
        assert shown == WITHHELD and in_timeline == WITHHELD


def test_other_kinds_keep_their_evidence_for_every_party() -> None:
    ticket = make_ticket("smoke_alarm", evidence={"rule": "threshold", "value": 0.4})
    for party in Party:
        assert public_ticket(ticket, party)["evidence"] == {"rule": "threshold", "value": 0.4}
