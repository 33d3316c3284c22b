"""Related alarms grouped into one incident, with inhibition of its consequences (pure rules
and through the API)."""

from __future__ import annotations

from hub_helpers import ESTATE, Api, alarm, make_ticket

from gongzhi.core.alarms import AlarmKind
from gongzhi.devices.registry import Location
from gongzhi.hub.incidents import children_of, parent_for

FLOOR3 = Location(ESTATE, "B1", "U1", "3", "302")


def test_parent_rules():
    fire = make_ticket("fire", ticket_id=1)  # B1/U1/3
    found = parent_for("smoke_alarm", "other", FLOOR3, [fire])
    assert found is not None and found[0] is fire
    assert (found[1].id, found[1].inhibit) == ("fire_floor_smoke", False)
    assert parent_for("smoke_alarm", "d1", FLOOR3, [fire]) is None  # its own device
    upstairs = Location(ESTATE, "B1", "U1", "4", "402")
    assert parent_for("smoke_alarm", "other", upstairs, [fire]) is None
    assert parent_for("tamper", "other", FLOOR3, [fire]) is None
    cluster = make_ticket("offline_cluster", ticket_id=2)
    anywhere = Location(ESTATE, "B1", "U9", "17", "1701")
    assert parent_for("device_offline", "x", anywhere, [cluster]) is not None
    assert parent_for("device_offline", "x", Location(ESTATE, "B2", "", "", ""),
                      [cluster]) is None
    smoke = make_ticket("smoke_alarm", ticket_id=3)
    assert [t.id for t, _ in children_of(fire, [smoke, cluster])] == [3]


def test_detectors_of_one_fire_make_one_incident(api: Api):
    earlier = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))["ticket_id"]
    fire = api.post_alarm(alarm(AlarmKind.FIRE, "smk-elderly"))
    assert fire["created"] is True
    assert api.ticket(earlier)["incident_id"] == fire["ticket_id"]
    # Another detector of that floor while the fire is active: its own ticket, linked.
    later = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "el-301", alarm_id="late-smoke"))
    assert later["created"] is True
    assert api.ticket(later["ticket_id"])["incident_id"] == fire["ticket_id"]
    # A second confirmation of the same fire opens nothing new.
    again = api.post_alarm(alarm(AlarmKind.FIRE, "smk-young", alarm_id="second-fire"))
    assert again == {"ticket_id": fire["ticket_id"], "created": False, "duplicate": False}
    timeline = api.ticket(fire["ticket_id"])["timeline"]
    assert [(e["rule_id"], e["data"]["device_id"]) for e in timeline
            if e["data"].get("grouped")] == [("fire_floor", "smk-young")]
    assert {e["data"].get("grouped_ticket") for e in timeline} >= {earlier,
                                                                  later["ticket_id"]}
    # Elsewhere: not part of it.
    other = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-b2"))
    assert api.ticket(other["ticket_id"])["incident_id"] is None


def test_offline_cluster_inhibits_per_device_offline_tickets(api: Api):
    before = api.post_alarm(alarm(AlarmKind.DEVICE_OFFLINE, "wp-r1"))["ticket_id"]
    cluster = api.post_alarm(alarm(AlarmKind.OFFLINE_CLUSTER, f"{ESTATE}:B1", building="B1"))
    assert api.ticket(before)["incident_id"] == cluster["ticket_id"]
    after = api.post_alarm(alarm(AlarmKind.DEVICE_OFFLINE, "el-corr"))
    assert after["ticket_id"] == cluster["ticket_id"] and after["created"] is False
    listed = api.get("/api/tickets", "property_office", kind="device_offline").json()
    assert [t["id"] for t in listed] == [before]
    api.act(cluster["ticket_id"], "police_room", "ack")
    api.act(cluster["ticket_id"], "police_room", "resolve", "power restored")
    again = api.post_alarm(alarm(AlarmKind.DEVICE_OFFLINE, "el-corr", alarm_id="next-day"))
    assert again["created"] is True
