"""The residents' committee's visits to elderly people living alone, on SQLite and the real
PostgreSQL: a month's coverage counts a household visited once someone was seen (not a door
nobody answered), by the duty matrix's local month; only the committee records and reads them,
and bad records are refused with their reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hub_helpers import ESTATE, Api

from gongzhi.core.clock import ManualClock
from gongzhi.hub.parties import Party

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_MS = 86_400_000


def at(month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


def _record(api: Api, party: str = "residents_committee", **body: Any) -> Any:
    return api.client.post("/api/visits", headers=api.auth(party), json={
        "estate_id": ESTATE, "household": "H301", "outcome": "well", **body})


def _coverage(api: Api, **params: str) -> dict[str, Any]:
    answer = api.get("/api/visits", "residents_committee", **params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_months_coverage_counts_households_seen(api: Api, clock: ManualClock) -> None:
    clock.set(at(6, 15, 10))
    before = _coverage(api)
    assert (before["month"], before["total"], before["visited"]) == ("2026-06", 1, 0)
    [household] = before["households"]
    assert (household["household"], household["visits"], household["visited"],
            household["last"]) == ("H301", 0, False, None)
    assert household["location"]["room"] == "301"

    # The last minute of May, local time: May's, not June's.
    may = _record(api, visited_at=at(6, 1, 0) - 60_000, note="五月底走访")
    assert may.status_code == 201, may.text
    nobody = _record(api, visited_at=at(6, 10, 9), outcome="not_home", note="敲门无人应答")
    assert nobody.status_code == 201, nobody.text
    after_door = _coverage(api)["households"][0]
    assert (after_door["visits"], after_door["visited"]) == (1, False)
    assert after_door["last"]["id"] == nobody.json()["id"]

    seen = _record(api, note="身体好，家里灯坏了已报修")  # now
    assert seen.status_code == 201, seen.text
    assert seen.json() == {"id": seen.json()["id"], "estate_id": ESTATE, "household": "H301",
                           "visited_at": at(6, 15, 10), "outcome": "well",
                           "note": "身体好，家里灯坏了已报修",
                           "recorded_by": "residents_committee", "created_at": at(6, 15, 10)}
    june = _coverage(api)
    assert (june["visited"], june["households"][0]["visits"]) == (1, 2)
    assert june["households"][0]["last"] == seen.json()
    assert (june["start_ms"], june["end_ms"]) == (at(6, 1, 0), at(7, 1, 0))
    may_coverage = _coverage(api, month="2026-05")
    assert may_coverage["visited"] == 1
    assert may_coverage["households"][0]["last"]["note"] == "五月底走访"
    with api.app.state.hub.store.transaction(at(6, 15, 10)) as tx:
        audited = [(e.actor, e.detail["visit"], e.detail["outcome"]) for e in tx.audit_entries()
                   if e.action == "visit_record"]
    assert audited == [("residents_committee", v.json()["id"], v.json()["outcome"])
                       for v in (may, nobody, seen)]


@pytest.mark.parametrize("party", [p.value for p in Party
                                   if p is not Party.RESIDENTS_COMMITTEE])
def test_only_the_committee_records_and_reads_visits(api: Api, clock: ManualClock,
                                                     party: str) -> None:
    clock.set(at(6, 15, 10))
    refused = _record(api, party)
    assert refused.status_code == 403 and refused.json()["detail"]["reason"] == "not_allowed"
    read = api.get("/api/visits", party)
    assert read.status_code == 403 and read.json()["detail"]["reason"] == "not_allowed"
    assert _coverage(api)["households"][0]["visits"] == 0


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"household": "H302"}, 404, "unknown_household"),  # a household, not flagged
    ({"visited_at": at(6, 15, 10) + 10 * 60_000}, 422, "bad_time"),  # in the future
    ({"visited_at": at(6, 15, 10) - 93 * DAY_MS}, 422, "bad_time"),  # past the quarter
    ({"outcome": "fine"}, 422, None),
    ({"by": "someone"}, 422, None),
])
def test_bad_visits_are_refused_with_their_reason(api: Api, clock: ManualClock,
                                                  body: dict[str, Any], status: int,
                                                  reason: str | None) -> None:
    clock.set(at(6, 15, 10))
    refused = _record(api, **body)
    assert refused.status_code == status, refused.text
    if reason is not None:
        assert refused.json()["detail"]["reason"] == reason
    assert _coverage(api)["households"][0]["visits"] == 0
    assert api.get("/api/visits", "residents_committee", month="2026-13").status_code == 422


@pytest.mark.parametrize("party", [p.value for p in Party])
def test_every_party_reads_the_months_visits_as_counts(api: Api, clock: ManualClock,
                                                      party: str) -> None:
    clock.set(at(6, 15, 10))
    for outcome in ("needs_help", "not_home"):
        assert _record(api, outcome=outcome, note="灯坏了").status_code == 201
    answer = api.get("/api/supervision/visits", party)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"month": "2026-06", "estates": [
        {"estate_id": ESTATE, "homes": 1, "visited": 1, "visits": 2, "needs_help": 1}]}
    assert "H301" not in answer.text and "灯坏了" not in answer.text
