"""The action matrix on the shipped duty matrix: parties acting beyond their duty are refused
with the reason, parties acting on their duty are not."""

from __future__ import annotations

from typing import Any

import pytest
from hub_helpers import Api, alarm

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import ConfigError
from gongzhi.hub.duty_parse import parse_matrix

MINUTE = 60_000


def refusal(answer: Any) -> str:
    assert answer.status_code == 403, answer.text
    detail = answer.json()["detail"]
    assert detail["message"]
    reason: str = detail["reason"]
    return reason


def actions_of(ticket: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["data"].get("role", "")) for e in ticket["timeline"]
            if e["type"] == "action"]


def test_the_residents_committee_cannot_close_the_property_offices_smoke_alarm(
        api: Api, clock: ManualClock):
    t0 = clock.now_ms()
    tid = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly", ts_ms=t0))["ticket_id"]
    for action in ("false_alarm", "resolve", "dispatch", "arrive"):
        assert refusal(api.act(tid, "residents_committee", action)) == "not_assignee"
    # Its own part, the welfare visit, it acknowledges: the ticket stays open and the property
    # office's deadline keeps running.
    done = api.act(tid, "residents_committee", "ack", note="visiting the flat")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "open"
    assert done.json()["allowed_actions"] == ["ack", "comment"]
    clock.set(t0 + 3 * MINUTE)
    api.app.state.escalator.run_once()
    fire = api.ticket(tid)
    assert (fire["kind"], fire["status"], fire["acknowledged_at"]) == ("fire", "open", None)
    assert "police_room" in fire["notified"]
    assert actions_of(fire) == [("residents_committee", "ack", "notified")]


def test_the_property_office_cannot_resolve_the_police_rooms_tamper_ticket(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    office = api.ticket(tid, "property_office")
    assert office["allowed_actions"] == ["comment"]
    for action in ("ack", "resolve", "false_alarm"):
        assert refusal(api.act(tid, "property_office", action)) == "not_assignee"
    assert api.act(tid, "property_office", "comment", note="detector back on its base"
                   ).status_code == 200
    for action, status in (("ack", "acknowledged"), ("resolve", "resolved")):
        done = api.act(tid, "police_room", action)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == status
    assert actions_of(api.ticket(tid, "police_room")) == [
        ("property_office", "comment", "notified"), ("police_room", "ack", "assignee"),
        ("police_room", "resolve", "assignee")]


def test_the_police_room_takes_over_a_fire_nobody_acknowledged(api: Api, clock: ManualClock):
    t0 = clock.now_ms()
    tid = api.post_alarm(alarm(AlarmKind.FIRE, "smk-b2", ts_ms=t0))["ticket_id"]
    # Notified of a confirmed fire, the police room acknowledges its part; moving the ticket is
    # the property office's until the ticket reaches the police room.
    assert api.ticket(tid, "police_room")["allowed_actions"] == ["ack", "comment"]
    assert refusal(api.act(tid, "police_room", "dispatch")) == "not_assignee"
    clock.set(t0 + MINUTE)
    api.app.state.escalator.run_once()
    police = api.ticket(tid, "police_room")
    assert police["assignee"] == "police_room"
    assert "property_office" in police["notified"]
    assert police["allowed_actions"] == ["ack", "dispatch", "arrive", "false_alarm", "comment"]
    taken = [e for e in police["timeline"] if e["type"] == "escalation"]
    assert [(e["data"]["from_party"], e["data"]["to_party"]) for e in taken] == [
        ("property_office", "police_room")]
    assert refusal(api.act(tid, "property_office", "arrive")) == "not_assignee"
    assert api.ticket(tid, "property_office")["allowed_actions"] == ["comment"]
    done = api.act(tid, "police_room", "arrive")
    assert done.status_code == 200 and done.json()["status"] == "on_site"
    assert actions_of(done.json()) == [("police_room", "arrive", "escalation_target")]


def test_supervision_reads_and_acts_on_nothing(api: Api, clock: ManualClock):
    t0 = clock.now_ms()
    tid = api.post_alarm(alarm(AlarmKind.ARC_FAULT, "el-301", ts_ms=t0))["ticket_id"]
    assert api.act(tid, "npc_liaison", "comment").status_code == 404  # not escalated: unseen
    clock.set(t0 + 16 * MINUTE)
    api.app.state.escalator.run_once()
    assert api.ticket(tid, "npc_liaison")["allowed_actions"] == []
    for action in ("comment", "ack", "resolve"):
        assert refusal(api.act(tid, "npc_liaison", action)) == "read_only"


def test_refused_actions_are_counted_by_reason(api: Api, clock: ManualClock):
    tid = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young", ts_ms=clock.now_ms()))["ticket_id"]
    for _ in range(3):
        refusal(api.act(tid, "property_office", "resolve"))
    metrics = api.client.get("/metrics").text
    assert 'gongzhi_actions_refused_total{reason="not_assignee"} 3' in metrics
    assert "# TYPE gongzhi_actions_refused_total counter" in metrics


def test_a_gateway_token_on_an_action_is_refused_with_the_reason(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    assert refusal(api.act(tid, "gateway", "ack")) == "gateway_token"


def test_refusals_are_documented(api: Api):
    document = api.client.get("/openapi.json").json()
    forbidden = document["paths"]["/api/tickets/{ticket_id}/actions"]["post"]["responses"]["403"]
    schema = forbidden["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    detail = document["components"]["schemas"][schema]["properties"]["detail"]["$ref"]
    assert set(document["components"]["schemas"][detail.rsplit("/", 1)[-1]]["required"]) == {
        "reason", "message"}
    assert "not_assignee" in forbidden["description"] and "read_only" in forbidden["description"]


@pytest.mark.parametrize("route", [
    "{id: r, when: {kinds: [tamper]}, severity: major, assignee: npc_liaison}",
    "{id: r, when: {kinds: [tamper]}, severity: major, assignee: police_room,"
    " chain: [police_room, npc_liaison]}",
])
def test_the_duty_matrix_cannot_make_supervision_hold_a_ticket(route: str):
    with pytest.raises(ConfigError, match="npc_liaison supervises") as refused:
        parse_matrix(f"version: 1\nroutes:\n  - {route}\n", "m.yaml")
    assert "m.yaml:3" in str(refused.value)
