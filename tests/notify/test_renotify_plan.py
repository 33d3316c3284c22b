"""The re-notification plan, pure: when attempts fall due, who each goes to along the chain,
and who the first notification reaches."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gongzhi.hub.notify.renotify import StepKind, chain_steps, latest_due, next_due_at, plan
from gongzhi.hub.notify.roster import Rosters, load_rosters
from gongzhi.hub.tickets import Status
from tests.hub.hub_helpers import make_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = 60_000


def at(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 1, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.fixture(scope="module")
def rosters() -> Rosters:
    return load_rosters(Path(__file__).with_name("rosters.yaml"))


def test_attempts_fall_due_every_interval_until_acknowledged(rosters: Rosters) -> None:
    opened = at(5, 19, 55)
    fire = make_ticket("fire", now=opened)  # critical: every 2 min
    assert latest_due(fire, rosters, opened - 1) is None
    assert latest_due(fire, rosters, opened) == 0
    assert latest_due(fire, rosters, opened + 2 * MINUTE - 1) == 0
    assert latest_due(fire, rosters, opened + 2 * MINUTE) == 1
    assert latest_due(fire, rosters, opened + 61 * MINUTE) == 30  # only the latest, once
    assert next_due_at(fire, rosters, 0) == opened + 2 * MINUTE
    acked = replace(fire, status=Status.ACKNOWLEDGED, acknowledged_at=opened + 1)
    assert latest_due(acked, rosters, opened + 4 * MINUTE) is None
    assert next_due_at(acked, rosters, 0) is None
    minor = make_ticket("low_battery", now=opened)  # no repeat for minor: told once
    assert minor.severity == "minor"
    assert latest_due(minor, rosters, opened + 600 * MINUTE) == 0
    assert next_due_at(minor, rosters, 0) is None


def test_the_chain_on_duty_backup_leader_then_the_next_party(rosters: Rosters) -> None:
    fire = make_ticket("fire", now=at(5, 10))
    assert fire.chain == ("property_office", "police_room")
    steps = chain_steps(fire, rosters, at(5, 10))
    assert [(s.kind, s.party, [p.id for p in s.people]) for s in steps] == [
        (StepKind.ON_DUTY, "property_office", ["zhao"]),
        (StepKind.BACKUP, "property_office", ["liu"]),
        (StepKind.LEADER, "property_office", ["chen"]),
        (StepKind.NEXT_PARTY, "police_room", ["officer-he"]),
    ]
    # Two attempts per step (per_step 2 for critical), the last step again and again.
    who = [[d.person.id for d in plan(fire, rosters, n, at(5, 10)).deliveries]
           for n in range(1, 10)]
    assert who == [["zhao"], ["liu"], ["liu"], ["chen"], ["chen"], ["officer-he"],
                   ["officer-he"], ["officer-he"], ["officer-he"]]


def test_the_first_notification_reaches_the_notified_parties_too(rosters: Rosters) -> None:
    fire = make_ticket("fire", now=at(5, 10))
    assert "police_room" in fire.notified
    first = plan(fire, rosters, 0, at(5, 10))
    assert [(d.party, d.person.id) for d in first.deliveries] == [
        ("property_office", "zhao"), ("police_room", "officer-he")]
    assert first.deliveries[0].channels == ("dingtalk", "sms", "wecom")
    again = plan(fire, rosters, 1, at(5, 10))
    assert [(d.party, d.person.id) for d in again.deliveries] == [("property_office", "zhao")]
    assert again.to_dict()["to"][0] == {"party": "property_office", "person": "zhao",
                                        "name": "赵师傅", "channels": ["dingtalk", "sms", "wecom"]}


def test_the_hand_over_at_eight_moves_the_attempt_to_the_night_guard(rosters: Rosters) -> None:
    fire = make_ticket("fire", now=at(5, 19, 58))
    assert [d.person.id for d in plan(fire, rosters, 0, at(5, 19, 58)).deliveries
            if d.party == "property_office"] == ["zhao"]
    assert [d.person.id for d in plan(fire, rosters, 1, at(5, 20, 0)).deliveries] == ["wang"]


def test_nobody_on_duty_is_an_attempt_with_nobody(rosters: Rosters) -> None:
    ticket = make_ticket("fire", now=at(5, 10), assignee="residents_committee",
                         chain=("residents_committee",), notified=())
    attempt = plan(ticket, rosters, 3, at(5, 10))
    assert attempt.step is None and attempt.deliveries == ()
