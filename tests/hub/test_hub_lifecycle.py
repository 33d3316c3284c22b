"""Ticket states and actions: every (state, action) pair."""

from __future__ import annotations

import pytest
from hub_helpers import make_ticket

from gongzhi.core.errors import IllegalTransition
from gongzhi.hub.lifecycle import Action, apply_action, possible
from gongzhi.hub.tickets import CLOSED, Status, Ticket

# (state, action) → the state it leads to; absent: refused.
LEGAL = {
    ("open", "ack"): "acknowledged",
    ("open", "dispatch"): "dispatched",
    ("open", "arrive"): "on_site",
    ("open", "false_alarm"): "false_alarm",
    ("acknowledged", "dispatch"): "dispatched",
    ("acknowledged", "arrive"): "on_site",
    ("acknowledged", "resolve"): "resolved",
    ("acknowledged", "false_alarm"): "false_alarm",
    ("dispatched", "arrive"): "on_site",
    ("dispatched", "resolve"): "resolved",
    ("dispatched", "false_alarm"): "false_alarm",
    ("on_site", "resolve"): "resolved",
    ("on_site", "false_alarm"): "false_alarm",
}


@pytest.mark.parametrize("status", [s.value for s in Status])
@pytest.mark.parametrize("action", [a.value for a in Action])
def test_every_state_and_action(status: str, action: str):
    ticket = make_ticket(status=Status(status), open_key="d1|smoke_alarm")
    if action == "comment":
        changed, entry = apply_action(ticket, Action.COMMENT, "police_room", "seen", 5)
        assert changed.status.value == status
        assert (entry.actor, entry.action, entry.note) == ("police_room", "comment", "seen")
        return
    if (status, action) not in LEGAL:
        with pytest.raises(IllegalTransition) as refused:
            apply_action(ticket, Action(action), "property_office", None, 5)
        assert str(ticket.id) in str(refused.value)
        return
    changed, entry = apply_action(ticket, Action(action), "property_office", "n", 5)
    assert changed.status.value == LEGAL[(status, action)]
    assert entry.data == {"from": status, "to": changed.status.value}
    assert entry.ts_ms == 5 and changed.updated_at == 5
    closed = changed.status in (Status.RESOLVED, Status.FALSE_ALARM)
    assert (changed.open_key is None) is closed
    assert (changed.closed_at == 5) is closed


def test_timestamps_of_acknowledgement_and_arrival():
    ticket = make_ticket()
    acked, _ = apply_action(ticket, Action.ACK, "property_office", None, 10)
    arrived, _ = apply_action(acked, Action.ARRIVE, "property_office", None, 20)
    assert (arrived.acknowledged_at, arrived.on_site_at) == (10, 20)
    direct, _ = apply_action(ticket, Action.ARRIVE, "property_office", None, 30)
    assert (direct.acknowledged_at, direct.on_site_at) == (30, 30)


def test_reasons_are_readable():
    with pytest.raises(IllegalTransition, match="acknowledge it before resolving"):
        apply_action(make_ticket(), Action.RESOLVE, "property_office", None, 1)
    with pytest.raises(IllegalTransition, match="already resolved"):
        apply_action(make_ticket(status=Status.RESOLVED), Action.ACK, "property_office", None,
                     1)


def test_possible_actions():
    def possible_in(ticket: Ticket, moves: bool) -> list[str]:
        return [a.value for a in Action if possible(ticket, a, moves=moves)]

    assert possible_in(make_ticket(), True) == [
        "ack", "dispatch", "arrive", "false_alarm", "comment"]
    assert possible_in(make_ticket(status=Status.FALSE_ALARM), True) == ["comment"]
    # A party that does not hold the ticket records: its acknowledgement while it is active.
    assert possible_in(make_ticket(status=Status.DISPATCHED), False) == ["ack", "comment"]
    assert possible_in(make_ticket(status=Status.RESOLVED), False) == ["comment"]


@pytest.mark.parametrize("status", [s for s in Status if s not in CLOSED])
def test_a_recorded_acknowledgement_leaves_the_ticket_where_it_is(status: Status):
    ticket = make_ticket(status=status, open_key="d1|smoke_alarm")
    changed, entry = apply_action(ticket, Action.ACK, "residents_committee", "visiting", 7,
                                  moves=False, role="notified")
    assert (changed.status, changed.acknowledged_at, changed.open_key) == (
        ticket.status, ticket.acknowledged_at, ticket.open_key)
    assert changed.updated_at == 7
    assert entry.data == {"from": status.value, "to": status.value, "role": "notified"}


def test_long_notes_are_cut():
    _, entry = apply_action(make_ticket(), Action.COMMENT, "property_office", "x" * 5000, 1)
    assert entry.note is not None and len(entry.note) == 2000
