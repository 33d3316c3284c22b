"""Supervision statistics: percentiles, SLA compliance, overdue counts, by day; via the API."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hub_helpers import Api, alarm, make_ticket

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.hub.sla import percentile
from gongzhi.hub.stats import statistics
from gongzhi.hub.tickets import Status

M = 60_000
DAY = 24 * 60 * M
T0 = 1_767_196_800_000  # 2026-01-01T00:00+08:00


@pytest.mark.parametrize(("values", "fraction", "expected"), [
    ([], 0.5, None), ([5], 0.9, 5), ([1, 2, 3, 4], 0.5, 2), (list(range(1, 11)), 0.9, 9),
    (list(range(1, 11)), 0.5, 5), ([10, 1, 7], 0.5, 7),
])
def test_percentile(values: list[float], fraction: float, expected: float | None):
    assert percentile(values, fraction) == expected


def test_figures_per_party_kind_and_day():
    tickets = [
        # tamper: acknowledged after 2, 4, 6, 8 minutes, within the 15-minute deadline
        *(replace(make_ticket("tamper", now=T0, ticket_id=i), status=Status.RESOLVED,
                  acknowledged_at=T0 + (2 * i + 2) * M, closed_at=T0 + (10 * i + 10) * M)
          for i in range(4)),
        # one tamper nobody acknowledged: overdue
        replace(make_ticket("tamper", now=T0 + DAY, ticket_id=10), breaches=("ack",),
                escalation_level=1),
        # a smoke alarm still within its deadline: outcome unknown
        make_ticket("smoke_alarm", now=T0 + DAY + 30 * M, ticket_id=11),
    ]
    result = statistics(tickets, now=T0 + DAY + 31 * M - 1, since=T0 - DAY,
                        timezone="Asia/Shanghai")
    tamper = next(r for r in result["by_party_kind"] if r["kind"] == "tamper")
    assert tamper["party"] == "police_room"
    assert tamper["tickets"] == 5
    assert tamper["time_to_ack"] == {"median_s": 240.0, "p90_s": 480.0}
    assert tamper["time_to_resolve"] == {"median_s": 1200.0, "p90_s": 2400.0}
    assert (tamper["sla_decided"], tamper["sla_met"], tamper["sla_compliance"]) == (5, 4, 0.8)
    assert (tamper["overdue_open"], tamper["escalated"], tamper["resolved"]) == (1, 1, 4)
    smoke = next(r for r in result["by_party_kind"] if r["kind"] == "smoke_alarm")
    assert (smoke["sla_decided"], smoke["sla_compliance"]) == (0, None)
    # Its deadline passes: missed, even before the escalation engine has looked at it.
    later = statistics(tickets, now=T0 + DAY + 31 * M, since=T0 - DAY, timezone="Asia/Shanghai")
    smoke = next(r for r in later["by_party_kind"] if r["kind"] == "smoke_alarm")
    assert (smoke["sla_decided"], smoke["sla_met"], smoke["sla_compliance"]) == (1, 0, 0.0)
    assert [(d["day"], d["tickets"]) for d in result["by_day"]] == [
        ("2026-01-01", 4), ("2026-01-02", 2)]
    assert result["totals"]["tickets"] == 6
    old = statistics(tickets, now=T0 + DAY, since=T0 + DAY, timezone="Asia/Shanghai")
    assert old["totals"]["tickets"] == 2


def test_stats_through_the_api(api: Api, clock: ManualClock):
    quick = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-young"))["ticket_id"]
    slow = api.post_alarm(alarm(AlarmKind.TAMPER, "smk-b2"))["ticket_id"]
    clock.advance(3 * M)
    api.act(quick, "police_room", "ack")
    clock.advance(13 * M)
    api.app.state.escalator.run_once()
    for party in ("npc_liaison", "owners_committee", "police_room"):
        response = api.get("/api/stats", party, days=7)
        assert response.status_code == 200
        body = response.json()
        row = body["by_party_kind"][0]
        assert (row["party"], row["kind"], row["tickets"]) == ("police_room", "tamper", 2)
        assert row["time_to_ack"]["median_s"] == 180.0
        assert (row["sla_decided"], row["sla_met"], row["overdue_open"]) == (1, 0, 1)
        assert "13812341234" not in response.text
    assert slow
    assert api.get("/api/stats", "npc_liaison", days=0).status_code == 422
    assert api.client.get("/api/stats").status_code == 401
