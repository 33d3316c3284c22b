"""Each party's view through the API: exactly the tickets it may see, with exactly the personal
data it may see; and the audit log of personal-data reads and actions."""

from __future__ import annotations

from hub_helpers import Api, alarm

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock

MINUTE = 60_000


def _scenario(api: Api, clock: ManualClock) -> dict[str, int]:
    ids = {
        "smoke": api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))["ticket_id"],
        "tamper": api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"],
        "pressure1": api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1"))["ticket_id"],
        "pressure2": api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1b"))[
            "ticket_id"],
        "pressure3": api.post_alarm(alarm(AlarmKind.WATER_PRESSURE_HIGH, "wp-r1"))[
            "ticket_id"],
        "battery": api.post_alarm(alarm(AlarmKind.LOW_BATTERY, "smk-b2"))["ticket_id"],
    }
    ebike = {api.post_alarm(alarm(AlarmKind.EBIKE_CHARGING, "el-corr", ts_ms=i))["ticket_id"]
             for i in range(3)}
    assert len(ebike) == 1
    ids["ebike"] = ebike.pop()
    # Everyone acknowledges in time except the police room, whose tamper ticket goes overdue.
    for name in ("smoke", "pressure1", "pressure2", "pressure3", "battery", "ebike"):
        assert api.act(ids[name], "property_office", "ack").status_code == 200
    clock.advance(16 * MINUTE)
    api.app.state.escalator.run_once()
    return ids


EXPECTED = {
    "property_office": {"smoke", "tamper", "pressure1", "pressure2", "pressure3", "battery",
                        "ebike"},
    "police_room": {"tamper", "ebike"},
    "residents_committee": {"smoke"},
    "owners_committee": {"pressure3"},
    "party_committee": {"tamper"},
    "npc_liaison": {"tamper"},
}


def test_each_party_sees_exactly_its_tickets(api: Api, clock: ManualClock):
    ids = _scenario(api, clock)
    names = {v: k for k, v in ids.items()}
    for party, expected in EXPECTED.items():
        listed = api.get("/api/tickets", party).json()
        assert {names[t["id"]] for t in listed} == expected, party
        for name, tid in ids.items():
            status = api.get(f"/api/tickets/{tid}", party).status_code
            assert status == (200 if name in expected else 404), (party, name)


def test_each_party_sees_exactly_its_personal_data(api: Api, clock: ManualClock):
    ids = _scenario(api, clock)
    smoke = api.ticket(ids["smoke"], "property_office")
    assert (smoke["elderly_alone"], smoke["household"], smoke["phone"]) == (
        True, "H301", "138****1234")
    assert smoke["location"]["room"] == "301"
    welfare = api.ticket(ids["smoke"], "residents_committee")
    assert welfare["elderly_alone"] is True
    for party in ("npc_liaison", "party_committee"):
        tamper = api.ticket(ids["tamper"], party)
        assert (tamper["elderly_alone"], tamper["household"], tamper["phone"]) == (
            None, None, None)
        assert (tamper["location"]["room"] is None) is (party == "npc_liaison")
    owners = api.ticket(ids["pressure3"], "owners_committee")
    assert owners["location"]["room"] is None
    assert "pressure_repeat_riser" in next(
        e for e in owners["timeline"] if e["type"] == "routing")["data"]["rule_ids"]
    for party in EXPECTED:
        for body in api.get("/api/tickets", party).json():
            assert "13812341234" not in str(body)


def test_devices_per_party(api: Api):
    states = {"devices": [{"device_id": "smk-elderly", "online": True, "last_seen_ms": 10,
                           "values": {"smoke_db_m": 0.02, "battery_pct": 87},
                           "values_ts_ms": 9}]}
    response = api.client.post("/api/device-states", json=states, headers=api.auth("gateway"))
    assert response.json() == {"accepted": 1, "refused": 0, "unregistered": []}
    older = {"devices": [{"device_id": "smk-elderly", "online": False, "last_seen_ms": 5,
                          "values": {"smoke_db_m": 9.0}, "values_ts_ms": 4}]}
    api.client.post("/api/device-states", json=older, headers=api.auth("gateway"))
    office = api.get("/api/devices/smk-elderly", "property_office").json()
    assert (office["online"], office["last_seen_ms"], office["values"]) == (
        True, 10, {"smoke_db_m": 0.02, "battery_pct": 87})
    assert (office["phone"], office["elderly_alone"]) == ("138****1234", True)
    npc = api.get("/api/devices/smk-elderly", "npc_liaison").json()
    assert (npc["phone"], npc["elderly_alone"], npc["household"], npc["location"]["room"]) == (
        None, None, None, None)
    listed = api.get("/api/devices", "police_room", building="B1").json()
    assert {d["device_id"] for d in listed} == {"smk-elderly", "smk-young", "wp-r1", "wp-r1b",
                                                "el-301", "el-corr"}
    assert {d["device_id"] for d in api.get("/api/devices", "police_room",
                                           online="true").json()} == {"smk-elderly"}
    assert api.get("/api/devices/nope", "police_room").status_code == 404


def test_audit_log_records_personal_data_reads_and_actions(api: Api):
    tid = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))["ticket_id"]
    api.ticket(tid, "residents_committee")
    api.get("/api/tickets", "property_office")
    api.act(tid, "property_office", "ack", "checking")
    hub = api.app.state.hub
    with hub.store.transaction(0) as tx:
        entries = tx.audit_entries()
    summary = [(e.actor, e.action, e.ticket_id) for e in entries]
    assert summary == [("residents_committee", "read", tid),
                       ("property_office", "read", None),
                       ("property_office", "ack", tid),
                       ("property_office", "read", tid)]  # the action's answer shows it
    assert entries[1].detail == {"tickets": [tid]}
    assert entries[2].detail["note"] == "checking"
    # Parties that get no personal data leave no read record.
    api.get("/api/tickets", "npc_liaison")
    with hub.store.transaction(0) as tx:
        assert len(tx.audit_entries()) == 4
