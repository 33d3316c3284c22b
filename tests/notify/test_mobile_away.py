"""A welfare check's signed link declares the household's absence: the committee's person at the
door learns the person is away, says until when, and the rest of the trip makes no ticket. The
page shows the absence from then on; other parties' links, other kinds of ticket and bad spans
are refused with their reason; the audit names the person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import write_registry
from gongzhi.hub.tokens import new_tokens, write_tokens
from tests.hub.hub_helpers import ESTATE, alarm
from tests.notify.people_support import (
    PEOPLE_DEVICES,
    People,
    at,
    link_token,
    raise_alarm,
    rosters_with_committee,
)

DAY_MS = 86_400_000


@pytest.fixture
def people(tmp_path: Path) -> Iterator[People]:
    rosters = rosters_with_committee(tmp_path)
    tokens = new_tokens()
    write_tokens(tmp_path / "tokens.json", tokens)
    write_registry(tmp_path / "registry.csv", PEOPLE_DEVICES)
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.db'}",
                        rosters=rosters, platform_url="http://hub.test")
    running = People(settings, ManualClock(at(5, 10)), tokens)
    try:
        yield running
    finally:
        running.close()


def _away(api: Any, ticket_id: int, token: str, **body: Any) -> Any:
    return api.client.post(f"/api/m/{ticket_id}/away", headers={"X-Gongzhi-Link": token},
                           json={"ends_at": at(8, 18), **body})


def test_a_welfare_checks_link_declares_the_households_absence(people: People) -> None:
    api = people.start()
    check = raise_alarm(api, AlarmKind.WELFARE_CHECK, "el-301", at(5, 10))
    token = link_token(api, check, "sun", "residents_committee")
    before = api.client.get(f"/api/m/{check}", headers={"X-Gongzhi-Link": token})
    assert before.status_code == 200, before.text
    assert before.json()["absence"] is None

    made = _away(api, check, token, note="去女儿家，邻居告知")
    assert made.status_code == 201, made.text
    absence = made.json()["absence"]
    assert {k: absence[k] for k in ("estate_id", "household", "starts_at", "ends_at", "note",
                                    "declared_by", "ended_at", "held_alarms")} == {
        "estate_id": ESTATE, "household": "H301", "starts_at": at(5, 10), "ends_at": at(8, 18),
        "note": "去女儿家，邻居告知", "declared_by": "residents_committee", "ended_at": None,
        "held_alarms": 0}
    assert api.get("/api/away", "residents_committee").json() == [absence]
    # The page, opened again, says so; the next morning's silence makes no ticket.
    again = api.client.get(f"/api/m/{check}", headers={"X-Gongzhi-Link": token}).json()
    assert again["absence"] == absence
    people.clock.set(at(6, 10))
    held = api.post_alarm({**_welfare_body(at(6, 10)), "alarm_id": "al-next-morning"})
    assert held["ticket_id"] is None
    with api.app.state.hub.store.transaction(at(6, 10)) as tx:
        audit = [e for e in tx.audit_entries() if e.action == "absence_declare"]
    assert [(e.actor, e.detail["person"]) for e in audit] == [("residents_committee", "sun")]


def _welfare_body(ts_ms: int) -> dict[str, Any]:
    body: dict[str, Any] = alarm(AlarmKind.WELFARE_CHECK, "el-301", ts_ms=ts_ms)
    return body


@pytest.mark.parametrize("case", ["other_party", "not_welfare", "bad_span", "body"])
def test_a_link_that_may_not_declare_is_refused_with_its_reason(people: People,
                                                                 case: str) -> None:
    api = people.start()
    check = raise_alarm(api, AlarmKind.WELFARE_CHECK, "el-301", at(5, 10))
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-elderly", at(5, 10))
    ticket_id, party, person, body = check, "residents_committee", "sun", {}
    expected: tuple[int, str | None] = (403, "not_allowed")
    if case == "other_party":  # the police room is notified of welfare checks, and acts
        party, person = "police_room", "officer-li"
    elif case == "not_welfare":
        ticket_id, expected = fire, (409, "not_welfare_check")
    elif case == "bad_span":
        body, expected = {"ends_at": at(5, 10) + 93 * DAY_MS}, (422, "bad_span")
    else:
        body, expected = {"ends_at": at(6, 10), "by": "me"}, (422, None)
    token = link_token(api, ticket_id, person, party)
    refused = _away(api, ticket_id, token, **body)
    assert refused.status_code == expected[0], refused.text
    if expected[1] is not None:
        assert refused.json()["detail"]["reason"] == expected[1]
    assert api.get("/api/away", "residents_committee").json() == []
