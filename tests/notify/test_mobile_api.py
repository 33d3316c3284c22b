"""The mobile page's API and who is on duty: a link's person acts on its one ticket as their
party, recorded by name; forged, expired, other-ticket links and strangers are refused."""

from __future__ import annotations

import pytest

from gongzhi.core.alarms import AlarmKind
from gongzhi.hub.notify.links import Recipient
from tests.notify.people_support import (
    MINUTE,
    People,
    at,
    desk,
    link_token,
    people,
    raise_alarm,
    timeline,
)

__all__ = ["people"]  # the fixture


def test_on_duty_now_for_the_party_itself(people: People) -> None:
    api = people.start()
    answer = api.get("/api/parties/property_office/on-duty", "property_office")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["shift"] == "day" and [p["name"] for p in body["people"]] == ["赵师傅"]
    assert body["ends_at"] == at(5, 20) and body["timezone"] == "Asia/Shanghai"
    assert "mobile" not in body["people"][0]
    people.clock.set(at(5, 20))
    assert [p["id"] for p in api.get("/api/parties/property_office/on-duty",
                                     "property_office").json()["people"]] == ["wang"]
    refused = api.get("/api/parties/property_office/on-duty", "police_room")
    assert refused.status_code == 403 and refused.json()["detail"]["reason"] == "other_party"
    assert api.get("/api/parties/nobody/on-duty", "police_room").status_code == 404
    assert api.client.get("/api/parties/police_room/on-duty").status_code == 401


def test_a_link_acknowledges_as_its_person(people: People) -> None:
    api = people.start()
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-young", at(5, 10))
    token = link_token(api, fire, "zhao")
    seen = api.client.get(f"/api/m/{fire}", headers={"X-Gongzhi-Link": token})
    assert seen.status_code == 200, seen.text
    assert seen.json()["person"] == {"id": "zhao", "name": "赵师傅", "language": "zh"}
    assert "ack" in seen.json()["ticket"]["allowed_actions"]
    acked = api.client.post(f"/api/m/{fire}/actions", json={"action": "ack"},
                            headers={"X-Gongzhi-Link": token})
    assert acked.status_code == 200, acked.text
    assert acked.json()["ticket"]["status"] == "acknowledged"
    entry = next(e for e in timeline(api, fire, "action") if e["action"] == "ack")
    assert entry["actor"] == "property_office"
    assert entry["data"]["person"] == "zhao" and entry["data"]["via"] == "link"
    # The same link goes on working for the next steps until it expires.
    arrived = api.client.post(f"/api/m/{fire}/actions", json={"action": "arrive"},
                              headers={"X-Gongzhi-Link": token})
    assert arrived.json()["ticket"]["status"] == "on_site"


@pytest.mark.parametrize("case", ["expired", "other_ticket", "forged", "missing",
                                  "unknown_person"])
def test_links_that_do_not_open_the_ticket(people: People, case: str) -> None:
    api = people.start()
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-young", at(5, 10))
    other = raise_alarm(api, AlarmKind.FIRE, "smk-b2", at(5, 10))
    token = link_token(api, fire, "zhao")
    ticket_id, expected = fire, case
    if case == "expired":
        people.clock.advance(desk(api).links.ttl_ms)
    elif case == "other_ticket":
        ticket_id = other
    elif case == "forged":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif case == "missing":
        token, expected = "", "malformed"
    else:
        token = link_token(api, fire, "stranger")
    headers = {"X-Gongzhi-Link": token} if token else {}
    for answer in (api.client.get(f"/api/m/{ticket_id}", headers=headers),
                   api.client.post(f"/api/m/{ticket_id}/actions", json={"action": "ack"},
                                   headers=headers)):
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"]["reason"] == expected
    assert api.ticket(fire)["status"] == "open" and api.ticket(other)["status"] == "open"
    people.clock.advance(MINUTE)


def test_a_notified_partys_link_may_comment_but_not_move_the_ticket(people: People) -> None:
    api = people.start()
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-young", at(5, 10))
    token = link_token(api, fire, "officer-he", party="police_room")
    headers = {"X-Gongzhi-Link": token}
    refused = api.client.post(f"/api/m/{fire}/actions", json={"action": "resolve"},
                              headers=headers)
    assert refused.status_code == 403 and refused.json()["detail"]["reason"] == "not_assignee"
    said = api.client.post(f"/api/m/{fire}/actions",
                           json={"action": "comment", "note": "民警已出发"}, headers=headers)
    assert said.status_code == 200, said.text
    assert said.json()["timeline"][-1]["data"]["name"] == "何警官"


def test_the_page_is_served_and_the_token_never_in_a_url(people: People) -> None:
    api = people.start()
    page = api.client.get("/m/1")
    assert page.status_code == 200 and "mobile.js" in page.text
    link = desk(api).links.link_for(1, Recipient("property_office", "zhao"), at(5, 10))
    assert link.startswith("http://hub.test/m/1#v1.1.property_office.zhao.")
