"""The escalation engine (pure): which steps a ticket's missed deadlines call for."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hub_helpers import make_ticket

from gongzhi.core.alarms import AlarmKind
from gongzhi.hub.duty_parse import load_matrix, parse_matrix
from gongzhi.hub.escalation import StepKind, escalate, plan
from gongzhi.hub.tickets import Status

M = 60_000
T0 = 1_000_000
MATRIX = load_matrix(None)


def steps(ticket, now, matrix=MATRIX):
    found = escalate(ticket, now, matrix)
    return [] if found is None else [(s.kind.value, s.stage, s.due_at) for s in found.steps]


def test_nothing_before_a_deadline():
    assert escalate(make_ticket("tamper", now=T0), T0 + 15 * M - 1, MATRIX) is None


def test_smoke_alarm_steps_in_order():
    ticket = make_ticket("smoke_alarm", now=T0, elderly=True)
    assert steps(ticket, T0 + M) == [("overdue", "ack", T0 + M)]
    assert steps(ticket, T0 + 3 * M) == [("overdue", "ack", T0 + M),
                                          ("convert", None, T0 + 3 * M)]
    result = escalate(ticket, T0 + 3 * M, MATRIX)
    assert result is not None
    fire = result.after
    assert (fire.kind, fire.converted_from, fire.route_id) == ("fire", "smoke_alarm", "fire")
    assert set(fire.notified) == {"party_committee", "police_room", "residents_committee"}
    assert fire.convert_at is None and fire.breaches == ()
    assert fire.next_check_at == T0 + 4 * M


def test_acknowledged_smoke_alarm_does_not_convert():
    ticket = make_ticket("smoke_alarm", now=T0, status=Status.ACKNOWLEDGED)
    assert steps(ticket, T0 + 60 * M) == []


def test_chain_then_overdue():
    ticket = make_ticket("fire", now=T0)
    result = escalate(ticket, T0 + 2 * M, MATRIX)
    assert result is not None
    assert [(s.kind, s.from_party, s.to_party) for s in result.steps] == [
        (StepKind.REASSIGN, "property_office", "police_room"),
        (StepKind.OVERDUE, None, None)]
    assert result.after.assignee == "police_room"
    assert "property_office" in result.after.notified
    assert result.after.breaches == ("ack",)
    assert result.after.escalation_level == 2


@pytest.mark.parametrize(("kind", "severity_notifies"), [
    ("tamper", True), ("device_offline", False)])
def test_overdue_notifies_party_committee_for_critical_and_major(kind: str,
                                                                 severity_notifies: bool):
    ticket = make_ticket(kind, now=T0)
    result = escalate(ticket, T0 + 2 * 24 * 60 * M, MATRIX)
    assert result is not None
    assert ("party_committee" in result.after.notified) is severity_notifies
    assert result.after.overdue


def test_closed_tickets_never_escalate():
    ticket = make_ticket("fire", now=T0, status=Status.RESOLVED)
    assert escalate(ticket, T0 + 999 * M, MATRIX) is None


def test_each_deadline_is_missed_once():
    ticket = make_ticket("arc_fault", now=T0)
    first = escalate(ticket, T0 + 3 * 60 * M, MATRIX)
    assert first is not None
    assert [s.stage for s in first.steps] == ["ack", "on_site"]
    assert escalate(first.after, T0 + 30 * 60 * M, MATRIX) is None
    assert first.after.due_at is None and first.after.next_check_at is None


def test_acknowledging_moves_the_due_date_to_the_next_stage():
    ticket = make_ticket("fire", now=T0)
    assert ticket.due_at == T0 + M
    acked = replace(ticket, status=Status.ACKNOWLEDGED)
    assert acked.due_at == T0 + 3 * M


def test_plan_over_many_tickets():
    tickets = [make_ticket("tamper", now=T0, ticket_id=i) for i in range(3)]
    tickets.append(make_ticket("tamper", now=T0 + 10 * M, ticket_id=9))
    planned = plan(tickets, T0 + 16 * M, MATRIX)
    assert [e.before.id for e in planned] == [0, 1, 2]


def test_conversion_to_a_kind_with_its_own_conversion_keeps_going():
    text = """\
version: 1
routes:
  - id: first
    when: {kinds: [smoke_alarm]}
    severity: minor
    assignee: property_office
    convert: {to: sensor_fault, after: 1m}
  - id: second
    when: {kinds: [sensor_fault]}
    severity: major
    assignee: property_office
    convert: {to: fire, after: 1m}
  - id: rest
    when: {kinds: [REST]}
    severity: critical
    assignee: police_room
""".replace("REST", ", ".join(sorted(k.value for k in AlarmKind
                                      if k not in (AlarmKind.SMOKE_ALARM, AlarmKind.SENSOR_FAULT))))
    matrix = parse_matrix(text)
    ticket = make_ticket("smoke_alarm", now=T0)
    ticket = replace(ticket, route_id="first", convert_at=T0 + M, convert_to="sensor_fault",
                     ack_due_at=None)
    result = escalate(ticket, T0 + 5 * M, matrix)
    assert result is not None
    assert [(s.from_kind, s.to_kind, s.due_at) for s in result.steps] == [
        ("smoke_alarm", "sensor_fault", T0 + M), ("sensor_fault", "fire", T0 + 2 * M)]
    assert result.after.assignee == "police_room"
