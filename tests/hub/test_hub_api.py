"""The ticket API through HTTP, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from hub_helpers import ESTATE, Api, alarm

from gongzhi.core.alarms import AlarmKind, AlarmState

PARTIES = ("property_office", "police_room", "residents_committee", "owners_committee",
           "party_committee", "npc_liaison")


def test_smoke_alarm_in_elderly_household_reaches_property_office_and_residents(api: Api):
    result = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly", ts_ms=1000))
    assert result["created"] is True and result["duplicate"] is False
    ticket = api.ticket(result["ticket_id"])
    assert ticket["kind"] == "smoke_alarm"
    assert ticket["severity"] == "critical"
    assert ticket["status"] == "open"
    assert ticket["assignee"] == "property_office"
    assert ticket["notified"] == ["residents_committee"]
    assert ticket["location"] == {"estate_id": ESTATE, "building": "B1", "unit": "U1",
                                  "floor": "3", "room": "301"}
    assert ticket["occurrences"] == 1
    assert ticket["due_at"] == ticket["opened_at"] + 60_000
    routing = [e for e in ticket["timeline"] if e["type"] == "routing"]
    assert [e["rule_id"] for e in routing] == ["smoke_alarm"]
    assert routing[0]["data"]["rule_ids"] == ["smoke_alarm", "elderly_alone_welfare"]


def test_tamper_goes_to_police_and_others_get_404(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    police = api.ticket(tid, "police_room")
    assert police["assignee"] == "police_room"
    assert police["notified"] == ["property_office"]
    assert api.get(f"/api/tickets/{tid}", "owners_committee").status_code == 404
    assert api.get(f"/api/tickets/{tid}", "residents_committee").status_code == 404
    pressure = api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1"))["ticket_id"]
    assert api.get(f"/api/tickets/{pressure}", "police_room").status_code == 404
    assert api.get(f"/api/tickets/{pressure}", "property_office").status_code == 200
    assert api.get("/api/tickets/999999", "property_office").status_code == 404


def test_wrong_or_missing_token_is_401(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    for path in ("/api/tickets", f"/api/tickets/{tid}", "/api/devices", "/api/me"):
        assert api.client.get(path).status_code == 401
        wrong = api.client.get(path, headers={"Authorization": "Bearer not-a-token-at-all"})
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"] == "Bearer"
    body = alarm(AlarmKind.TAMPER, "smk-young", alarm_id="x1")
    assert api.client.post("/api/alarms", json=body).status_code == 401
    assert api.client.post(f"/api/tickets/{tid}/actions", json={"action": "ack"}
                           ).status_code == 401


def test_gateway_and_parties_keep_to_their_calls(api: Api):
    body = alarm(AlarmKind.TAMPER, "smk-young", alarm_id="gw-1")
    assert api.client.post("/api/alarms", json=body,
                           headers=api.auth("property_office")).status_code == 403
    assert api.get("/api/tickets", "gateway").status_code == 403
    states = {"devices": [{"device_id": "smk-young", "online": True, "last_seen_ms": 5}]}
    assert api.client.post("/api/device-states", json=states,
                           headers=api.auth("police_room")).status_code == 403


def test_repeats_of_one_anomaly_count_occurrences_on_one_ticket(api: Api):
    ids = {api.post_alarm(alarm(AlarmKind.ELECTRICAL_LEAKAGE, "el-corr", ts_ms=1000 * i))[
        "ticket_id"] for i in range(10)}
    assert len(ids) == 1
    ticket = api.ticket(ids.pop())
    assert ticket["occurrences"] == 10
    assert ticket["first_seen"] == 0
    assert ticket["last_seen"] == 9000
    assert sum(1 for e in ticket["timeline"] if e["type"] == "alarm") == 10


def test_same_alarm_delivered_again_answers_with_the_same_ticket(api: Api):
    body = alarm(AlarmKind.CABLE_OVERHEAT, "el-301", alarm_id="al-once")
    first = api.post_alarm(body)
    again = api.post_alarm(body)
    assert first["created"] is True
    assert again == {"ticket_id": first["ticket_id"], "created": False, "duplicate": True}
    assert api.ticket(first["ticket_id"])["occurrences"] == 1


def test_clear_is_recorded_and_does_not_close(api: Api):
    raised = api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1", alarm_id="al-p"))
    cleared = api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1", alarm_id="al-p",
                                   state=AlarmState.CLEAR, ts_ms=5000))
    assert cleared == {"ticket_id": raised["ticket_id"], "created": False, "duplicate": False}
    ticket = api.ticket(raised["ticket_id"])
    assert ticket["status"] == "open"
    assert [e["type"] for e in ticket["timeline"]] == ["alarm", "routing", "clear"]
    orphan = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-b2", state=AlarmState.CLEAR))
    assert orphan == {"ticket_id": None, "created": False, "duplicate": False}


def test_lifecycle_actions_and_409(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.ARC_FAULT, "el-301"))["ticket_id"]
    refused = api.act(tid, "property_office", "resolve")
    assert refused.status_code == 409
    assert "acknowledge" in refused.json()["detail"]
    for action, status in (("ack", "acknowledged"), ("dispatch", "dispatched"),
                           ("arrive", "on_site"), ("comment", "on_site"),
                           ("resolve", "resolved")):
        response = api.act(tid, "property_office", action, note=f"{action} note")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    again = api.act(tid, "property_office", "ack")
    assert again.status_code == 409
    assert "resolved" in again.json()["detail"]
    ticket = api.ticket(tid)
    actions = [(e["actor"], e["action"], e["note"]) for e in ticket["timeline"]
               if e["type"] == "action"]
    assert actions == [("property_office", a, f"{a} note")
                       for a in ("ack", "dispatch", "arrive", "comment", "resolve")]
    assert ticket["allowed_actions"] == ["comment"]
    # Closed: the next alarm of the same device and kind opens a new ticket.
    later = api.post_alarm(alarm(AlarmKind.ARC_FAULT, "el-301", ts_ms=99))
    assert later["created"] is True and later["ticket_id"] != tid


def test_bad_action_bodies_are_refused(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.ARC_FAULT, "el-301"))["ticket_id"]
    for body in ({"action": "explode"}, {"action": "ack", "extra": 1}, {}):
        response = api.client.post(f"/api/tickets/{tid}/actions", json=body,
                                   headers=api.auth("property_office"))
        assert response.status_code == 422
    assert api.act(tid, "npc_liaison", "ack").status_code == 404


def test_bad_alarm_bodies_are_refused(api: Api):
    good = alarm(AlarmKind.TAMPER, "smk-young")
    for bad in ({**good, "kind": "meteor"}, {**good, "ts_ms": "soon"},
                {**good, "unknown": 1}, {**good, "device_id": "bad id!"}):
        response = api.client.post("/api/alarms", json=bad, headers=api.auth("gateway"))
        assert response.status_code == 422, bad
    assert api.get("/api/tickets", "police_room").json() == []


def test_list_filters_and_order(api: Api, clock):
    first = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    clock.advance(1000)
    second = api.post_alarm(alarm(AlarmKind.ARC_FAULT, "el-301"))["ticket_id"]
    clock.advance(1000)
    third = api.post_alarm(alarm(AlarmKind.LOW_BATTERY, "smk-b2"))["ticket_id"]
    listed = [t["id"] for t in api.get("/api/tickets", "property_office").json()]
    assert listed == [third, second, first]
    assert [t["id"] for t in api.get("/api/tickets", "property_office",
                                     kind="arc_fault,tamper").json()] == [second, first]
    api.act(second, "property_office", "ack")
    assert [t["id"] for t in api.get("/api/tickets", "property_office",
                                     status="acknowledged").json()] == [second]
    since = api.ticket(third)["updated_at"]
    assert {t["id"] for t in api.get("/api/tickets", "property_office", since=since).json()
            } == {third, second}


def test_offline_cluster_is_located_by_the_alarm_building(api: Api):
    body = alarm(AlarmKind.OFFLINE_CLUSTER, f"{ESTATE}:B2", building="B2")
    tid = api.post_alarm(body)["ticket_id"]
    ticket = api.ticket(tid, "police_room")
    assert ticket["location"]["building"] == "B2"
    assert ticket["assignee"] == "police_room"
    assert ticket["device_id"] == f"{ESTATE}:B2"


def test_me(api: Api):
    for party in PARTIES:
        me = api.get("/api/me", party).json()
        assert me["party"] == party
        assert me["views"]
    assert api.get("/api/me", "npc_liaison").json()["read_only"] is True
    assert api.get("/api/me", "property_office").json()["views"][0] == "wall"


def test_health_metrics_and_docs(api: Api):
    assert api.client.get("/healthz").json()["status"] == "ok"
    api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young", alarm_id="m1"))
    api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young", alarm_id="m1"))
    text = api.client.get("/metrics").text
    assert 'gongzhi_tickets{kind="tamper",status="open"} 1' in text
    assert "gongzhi_alarms_duplicate_total 1" in text
    assert 'gongzhi_alarms_received_total{kind="tamper",state="raise"} 2' in text
    assert 'route="/api/alarms",status="200"' in text
    assert api.client.get("/openapi.json").status_code == 200


def test_docs_work_without_the_internet(api: Api):
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = api.client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000
    assert api.client.get("/docs/assets/..%2Fsecret").status_code == 404
    assert api.client.get("/redoc").status_code == 404
