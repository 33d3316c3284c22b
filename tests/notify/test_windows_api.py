"""Maintenance windows on the real platform: a recurring window silences the pump test and not
the fire next door; windows are made, listed and ended through the API, every change audited;
an expired window ends by itself."""

from __future__ import annotations

from typing import Any

import pytest

from gongzhi.core.alarms import AlarmKind
from tests.hub.hub_helpers import Api
from tests.notify.people_support import People, at, people, raise_alarm, timeline
from tests.notify.test_renotify import Outbox, renotifier

__all__ = ["people"]  # the fixture

PUMP_TEST = {"target": {"estate": "yijing", "riser": "R3"}, "reason": "每周一水泵测试",
             "ends_at": at(31, 0),
             "weekly": {"weekdays": ["mon"], "from": "10:00", "to": "10:30"}}


def post(api: Api, path: str, party: str, body: dict[str, Any] | None = None) -> Any:
    return api.client.post(path, json=body, headers=api.auth(party))


def audit(api: Api) -> list[tuple[str, str, Any]]:
    hub = api.app.state.hub
    with hub.store.transaction(hub.clock.now_ms()) as tx:
        return [(e.actor, e.action, e.detail.get("window")) for e in tx.audit_entries()
                if e.action.startswith("window_")]


@pytest.mark.parametrize("people", ["sqlite", pytest.param("postgres",
                                                           marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_recurring_window_silences_the_pump_test_not_the_fire_next_door(
        people: People) -> None:
    people.clock.set(at(5, 9))
    api = people.start()
    made = post(api, "/api/windows", "property_office", PUMP_TEST)
    assert made.status_code == 201, made.text
    window = made.json()
    assert window["state"] == "waiting" and window["next_open_at"] == at(5, 10)
    assert window["weekly"] == {"weekdays": ["mon"], "from": "10:00", "to": "10:30"}

    people.clock.set(at(5, 10, 5))  # Monday, in the slot
    pump = raise_alarm(api, AlarmKind.WATER_PRESSURE_DROP, "wp-r3", at(5, 10, 5))
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-b3", at(5, 10, 5))  # same building, no riser
    outbox = Outbox()
    task = renotifier(api, outbox)
    task.run_once()
    assert [sent[0] for sent in outbox.sent] == [fire]
    assert api.ticket(pump)["status"] == "open"  # the ticket exists, and nobody is told
    mark = timeline(api, pump, "notification")
    assert [(e["action"], e["data"]["silenced_by"]) for e in mark] == [
        ("silenced", window["id"])]
    for minutes in (30, 60, 600):  # nor later, after the slot
        people.clock.set(at(5, 10, 5) + minutes * 60_000)
        task.run_once()
    assert pump not in {sent[0] for sent in outbox.sent}
    assert timeline(api, fire, "notification")[0]["action"] == "notify"

    listed = api.get("/api/windows", "npc_liaison").json()["windows"]
    assert [(w["id"], w["state"]) for w in listed] == [(window["id"], "waiting")]
    assert listed[0]["next_open_at"] == at(12, 10)


def test_make_list_end_and_audit(people: People) -> None:
    api = people.start()
    made = post(api, "/api/windows", "property_office", {
        "target": {"device": "smk-b3"}, "reason": "detector replaced",
        "ends_at": at(5, 12)}).json()
    assert made["state"] == "open" and made["author"] == "property_office"
    assert post(api, "/api/windows", "npc_liaison", PUMP_TEST).json()["detail"]["reason"] == \
        "read_only"
    empty = post(api, "/api/windows", "property_office", {**PUMP_TEST, "target": {}})
    assert empty.status_code == 422
    backwards = post(api, "/api/windows", "property_office",
                     {**PUMP_TEST, "starts_at": at(6, 0), "ends_at": at(5, 23)})
    assert backwards.status_code == 422
    ended = post(api, f"/api/windows/{made['id']}/end", "police_room")
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert ended.json()["ended_by"] == "police_room"
    assert post(api, f"/api/windows/{made['id']}/end", "police_room").status_code == 200
    assert post(api, "/api/windows/999/end", "police_room").status_code == 404
    assert api.get("/api/windows", "property_office").json()["windows"] == []
    assert [w["id"] for w in api.get("/api/windows", "property_office",
                                     ended="true").json()["windows"]] == [made["id"]]
    assert audit(api) == [("property_office", "window_create", made["id"]),
                          ("police_room", "window_end", made["id"])]


def test_an_expired_window_ends_by_itself(people: People) -> None:
    api = people.start()
    made = post(api, "/api/windows", "property_office", {
        "target": {"building": "B3"}, "reason": "wiring works", "ends_at": at(5, 11)}).json()
    people.clock.set(at(5, 11))
    assert api.get("/api/windows", "property_office").json()["windows"] == []
    found = api.get("/api/windows", "property_office", ended="true").json()["windows"]
    assert [(w["id"], w["state"]) for w in found] == [(made["id"], "ended")]
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-b3", at(5, 11))
    outbox = Outbox()
    renotifier(api, outbox).run_once()
    assert [sent[0] for sent in outbox.sent] == [fire]
