"""Escalation through the running platform: stored deadlines, restarts, replicas."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hub_helpers import Api, ApiFactory, alarm

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock

MINUTE = 60_000


def _escalations(ticket: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    return [(e["action"], e["data"].get("stage"), e["data"]["due_at"])
            for e in ticket["timeline"] if e["type"] == "escalation"]


def test_unverified_smoke_alarm_becomes_fire_and_reaches_the_police(api: Api,
                                                                    clock: ManualClock):
    tid = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))["ticket_id"]
    t0 = api.ticket(tid)["opened_at"]
    assert api.get(f"/api/tickets/{tid}", "police_room").status_code == 404

    clock.set(t0 + MINUTE - 1)
    assert api.app.state.escalator.run_once() == []
    clock.set(t0 + MINUTE)
    api.app.state.escalator.run_once()
    ticket = api.ticket(tid)
    assert ticket["kind"] == "smoke_alarm"
    assert ticket["overdue"] is True and ticket["breaches"] == ["ack"]
    assert "party_committee" in ticket["notified"]
    assert api.get(f"/api/tickets/{tid}", "police_room").status_code == 404

    clock.set(t0 + 3 * MINUTE)
    api.app.state.escalator.run_once()
    fire = api.ticket(tid, "police_room")
    assert fire["kind"] == "fire" and fire["converted_from"] == "smoke_alarm"
    assert fire["severity"] == "critical"
    assert fire["assignee"] == "property_office"
    assert set(fire["notified"]) == {"police_room", "party_committee", "residents_committee"}
    assert fire["breaches"] == [] and fire["overdue"] is False
    assert fire["ack_due_at"] == t0 + 4 * MINUTE
    assert fire["on_site_due_at"] == t0 + 6 * MINUTE
    assert fire["rule_id"] == "fire"
    assert _escalations(fire) == [("overdue", "ack", t0 + MINUTE),
                                  ("convert", None, t0 + 3 * MINUTE)]


def test_fire_not_acknowledged_passes_to_the_police_room(api: Api, clock: ManualClock):
    tid = api.post_alarm(alarm(AlarmKind.FIRE, "smk-young"))["ticket_id"]
    t0 = api.ticket(tid)["opened_at"]
    clock.set(t0 + MINUTE)
    api.app.state.escalator.run_once()
    ticket = api.ticket(tid, "police_room")
    assert ticket["assignee"] == "police_room"
    assert "property_office" in ticket["notified"]
    assert ticket["ack_due_at"] == t0 + 2 * MINUTE
    assert ticket["escalation_level"] == 1
    # The property office may still act on it as a notified party.
    assert api.act(tid, "police_room", "ack", "on our way").status_code == 200
    clock.set(t0 + 10 * MINUTE)
    api.app.state.escalator.run_once()
    ticket = api.ticket(tid, "police_room")
    assert ticket["breaches"] == ["on_site"]
    assert _escalations(ticket) == [("reassign", "ack", t0 + MINUTE),
                                    ("overdue", "on_site", t0 + 3 * MINUTE)]


def test_catching_up_applies_every_step_in_order(api: Api, clock: ManualClock):
    tid = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))["ticket_id"]
    t0 = api.ticket(tid)["opened_at"]
    clock.set(t0 + 7 * MINUTE)
    applied = api.app.state.escalator.run_once()
    assert len(applied) == 1
    ticket = api.ticket(tid, "police_room")
    assert _escalations(ticket) == [
        ("overdue", "ack", t0 + MINUTE),
        ("convert", None, t0 + 3 * MINUTE),
        ("reassign", "ack", t0 + 4 * MINUTE),
        ("overdue", "ack", t0 + 5 * MINUTE),
        ("overdue", "on_site", t0 + 6 * MINUTE),
    ]
    assert ticket["assignee"] == "police_room"
    assert ticket["escalation_level"] == 5
    assert api.app.state.escalator.run_once() == []


def test_restart_in_the_middle_of_an_sla_window_escalates_on_time(
        make_api: ApiFactory, clock: ManualClock):
    first = make_api()
    tid = first.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    t0 = first.ticket(tid, "police_room")["opened_at"]
    clock.set(t0 + 10 * MINUTE)
    assert first.app.state.escalator.run_once() == []
    first.close()

    second = make_api()  # a new process: nothing in memory, only the database
    clock.set(t0 + 15 * MINUTE - 1)
    assert second.app.state.escalator.run_once() == []
    assert second.get(f"/api/tickets/{tid}", "npc_liaison").status_code == 404
    clock.set(t0 + 15 * MINUTE)
    assert len(second.app.state.escalator.run_once()) == 1
    ticket = second.ticket(tid, "police_room")
    assert ticket["overdue"] is True
    assert _escalations(ticket) == [("overdue", "ack", t0 + 15 * MINUTE)]
    assert "party_committee" in ticket["notified"]
    supervised = second.get(f"/api/tickets/{tid}", "npc_liaison")
    assert supervised.status_code == 200
    assert supervised.json()["escalation_level"] == 1


def test_a_service_down_past_a_deadline_catches_up_at_start(make_api: ApiFactory,
                                                            clock: ManualClock):
    first = make_api()
    tid = first.post_alarm(alarm(AlarmKind.ARC_FAULT, "el-301"))["ticket_id"]
    t0 = first.ticket(tid)["opened_at"]
    first.close()
    clock.set(t0 + 5 * 60 * MINUTE)  # down for five hours
    second = make_api(background=True)  # the background loop runs a pass at start
    deadline = threading.Event()
    for _ in range(200):
        if second.ticket(tid)["breaches"]:
            break
        deadline.wait(0.02)
    ticket = second.ticket(tid)
    assert _escalations(ticket) == [("overdue", "ack", t0 + 15 * MINUTE),
                                    ("overdue", "on_site", t0 + 120 * MINUTE)]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_replicas_escalate_an_overdue_ticket_exactly_once(make_api: ApiFactory,
                                                              clock: ManualClock):
    replicas = [make_api(), make_api()]
    ids = [replicas[i % 2].post_alarm(alarm(AlarmKind.TAMPER, d))["ticket_id"]
           for i, d in enumerate(["smk-young", "smk-b2", "smk-elderly", "wp-r1", "el-301"])]
    t0 = replicas[0].ticket(ids[0], "police_room")["opened_at"]
    clock.set(t0 + 16 * MINUTE)
    for _ in range(5):  # several rounds of both replicas racing
        start = threading.Barrier(2)

        def run(api: Api, barrier: threading.Barrier = start) -> None:
            barrier.wait()
            api.app.state.escalator.run_once()

        threads = [threading.Thread(target=run, args=(r,)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for tid in ids:
        ticket = replicas[1].ticket(tid, "police_room")
        assert _escalations(ticket) == [("overdue", "ack", t0 + 15 * MINUTE)]
        assert ticket["escalation_level"] == 1
    applied = sum(r.app.state.hub.metrics.value("gongzhi_escalations_total", step="overdue")
                  for r in replicas)
    assert applied == len(ids)


def test_acknowledged_in_time_does_not_escalate(api: Api, clock: ManualClock):
    tid = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))["ticket_id"]
    t0 = api.ticket(tid)["opened_at"]
    clock.set(t0 + 30_000)
    assert api.act(tid, "property_office", "ack").status_code == 200
    clock.set(t0 + 60 * MINUTE)
    assert api.app.state.escalator.run_once() == []
    ticket = api.ticket(tid)
    assert ticket["kind"] == "smoke_alarm" and ticket["escalation_level"] == 0
    assert ticket["due_at"] is None
