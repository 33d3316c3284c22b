"""Welfare checks on the platform (SQLite, injected clock): the gateway's alarm for a simulated
fall makes a ticket for the residents' committee when the household's model expected a sign of
life, and not before; nobody taking the visit passes it to the police room after its SLA; the
activity evidence reaches the committee and the police room only, never the supervision view; a
declared absence holds welfare alarms (no ticket) on every replica of the platform's database, and
a held alarm that no sign of life has cleared by the absence's end makes its ticket then; a power
cut makes none."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import Registry, write_registry
from gongzhi.evaluation.welfare_sim import (
    LEARN_DAYS,
    START_MS,
    household_records,
    household_series,
    watch_alarms,
)
from gongzhi.hub.app import create_app
from gongzhi.hub.away_store import RETURN_GRACE_MS
from gongzhi.hub.tokens import new_tokens, write_tokens
from gongzhi.simulators.living import DAY_MS, DEVELOPMENT_SEEDS, HOUR_MS, MINUTE_MS, Fault, simulate
from tests.hub.hub_helpers import Api

SEVEN = 7 * HOUR_MS
RECORDS = household_records("h1")  # monitor h1-em and water meter h1-wm, elderly-alone


@contextmanager
def platform(data_dir: Path, database_url: str, tokens: dict[str, str],
             clock: ManualClock) -> Iterator[Api]:
    """A platform on ``database_url`` with its own data directory (a replica: nothing shared
    with another but the database)."""
    data_dir.mkdir(exist_ok=True)
    write_tokens(data_dir / "tokens.json", tokens)
    write_registry(data_dir / "registry.csv", RECORDS)
    app = create_app(Settings(data_dir=data_dir, database_url=database_url), clock,
                     background=False)
    with TestClient(app) as client:
        yield Api(client, tokens, app)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Api, ManualClock]]:
    clock = ManualClock()
    with platform(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", new_tokens(), clock) as app:
        yield app, clock


def fall_alarms(fault: str = "no_activity", days: int = 1) -> tuple[int, list[Alarm]]:
    """A development household that sleeps past 07:00 falls (or is away) at 07:00 on a Monday
    after four weeks; the gateway's welfare alarms of that day, in order."""
    fall = START_MS + LEARN_DAYS * DAY_MS + SEVEN
    for seed in DEVELOPMENT_SEEDS:
        if simulate(seed, START_MS, LEARN_DAYS + 1).wake_ms[LEARN_DAYS] > fall + 20 * MINUTE_MS:
            living = simulate(seed, START_MS, LEARN_DAYS + days,
                              faults=(Fault(fault, fall, fall + DAY_MS),))
            alarms = watch_alarms(Registry(RECORDS), household_series("h1", living))
            return fall, [a for a in alarms if a.ts_ms >= fall - DAY_MS]
    raise AssertionError("no development seed sleeps past 07:00")


def deliver(api: Api, clock: ManualClock, alarm: Alarm) -> dict[str, Any]:
    """The gateway sends the alarm as soon as detection raises it (device time = now)."""
    clock.set(alarm.ts_ms)
    return api.post_alarm(alarm.to_dict())


def committee_tickets(api: Api) -> list[dict[str, Any]]:
    response = api.get("/api/tickets", "residents_committee")
    assert response.status_code == 200
    return [t for t in response.json() if t["kind"] == "welfare_check"]


def test_a_fall_reaches_the_committee_when_expected_then_the_police_room(
        api: tuple[Api, ManualClock]) -> None:
    app, clock = api
    fall, alarms = fall_alarms()
    raised = [a for a in alarms if a.state is AlarmState.RAISE]
    first = raised[0]
    expected_by = first.evidence["expected_by_ms"]
    assert fall < expected_by <= first.ts_ms < expected_by + MINUTE_MS
    clock.set(expected_by - 1)
    assert committee_tickets(app) == []  # nothing before the model expects a sign

    answer = deliver(app, clock, first)
    assert answer["created"] is True
    [ticket] = committee_tickets(app)
    assert ticket["assignee"] == "residents_committee" and ticket["severity"] == "major"
    assert ticket["opened_at"] == first.ts_ms
    assert ticket["on_site_due_at"] == first.ts_ms + 2 * HOUR_MS  # visit within 2 h
    assert ticket["evidence"]["rule"] == "first_activity"
    assert ticket["evidence"]["last_activity_at_ms"] < fall
    assert ticket["household"] == "h1" and ticket["elderly_alone"] is True
    assert app.get(f"/api/tickets/{ticket['id']}", "police_room").status_code == 404

    clock.set(ticket["ack_due_at"] - 1)
    app.app.state.escalator.run_once()
    assert app.get(f"/api/tickets/{ticket['id']}", "police_room").status_code == 404
    clock.set(ticket["ack_due_at"])  # nobody took the visit in 30 min
    app.app.state.escalator.run_once()
    police = app.ticket(ticket["id"], "police_room")
    assert police["assignee"] == "police_room"
    assert "residents_committee" in police["notified"]
    assert police["evidence"]["expected_by_ms"] == expected_by  # forced entry needs the why

    # The supervision station sees the escalated ticket, never the activity data.
    seen = app.ticket(ticket["id"], "npc_liaison")
    assert seen["evidence"] == {"withheld": "personal_activity"}
    assert seen["household"] is None and seen["location"]["room"] is None
    timeline = app.get(f"/api/tickets/{ticket['id']}", "npc_liaison").json()["timeline"]
    assert "last_activity_at_ms" not in str(timeline)
    assert "last_activity_at_ms" in str(
        app.get(f"/api/tickets/{ticket['id']}", "residents_committee").json()["timeline"])


def declare_trip(app: Api, clock: ManualClock, fall: int) -> dict[str, Any]:
    """The committee declares, an hour before, a trip from then until a day after ``fall``."""
    clock.set(fall - HOUR_MS)
    made = app.client.post("/api/away", headers=app.auth("residents_committee"), json={
        "estate_id": "sim", "household": "h1", "ends_at": fall + DAY_MS,
        "note": "visiting her daughter"})
    assert made.status_code == 201, made.text
    absence: dict[str, Any] = made.json()
    return absence


def test_a_declared_trip_holds_welfare_alarms_on_every_replica(tmp_path: Path) -> None:
    """The committee declares on one replica; the gateway's alarms reach the other (behind one
    address, a load balancer picks): none makes a ticket, and both show what was held. She is
    back a little after the trip's end: its end makes no ticket either."""
    clock, tokens, database = ManualClock(), new_tokens(), f"sqlite:///{tmp_path / 'p.db'}"
    with (platform(tmp_path / "a", database, tokens, clock) as app,
          platform(tmp_path / "b", database, tokens, clock) as other):
        fall, alarms = fall_alarms("away", days=2)
        raised = [a for a in alarms if a.state is AlarmState.RAISE]
        [back] = [a for a in alarms if a.state is AlarmState.CLEAR]
        assert raised and back.ts_ms > fall + DAY_MS  # the gateway cannot know of the trip
        clock.set(fall - HOUR_MS)
        refused = app.client.post("/api/away", headers=app.auth("police_room"), json={
            "estate_id": "sim", "household": "h1", "ends_at": fall + DAY_MS})
        assert refused.status_code == 403
        assert refused.json()["detail"]["reason"] == "not_allowed"
        absence = declare_trip(app, clock, fall)
        assert not (tmp_path / "a" / "away.json").exists()  # the database keeps it
        for alarm in raised:
            assert deliver(other, clock, alarm)["ticket_id"] is None
        batch = other.client.post("/api/alarms/batch", json={"alarms": [raised[0].to_dict()]},
                                  headers=other.auth("gateway"))
        [result] = batch.json()["results"]
        assert (result["result"], result["ticket_id"], result["created"]) == ("stored", None,
                                                                               False)
        assert committee_tickets(app) == committee_tickets(other) == []
        held = {a.alarm_id for a in raised}
        for replica in (app, other):
            [shown] = replica.get("/api/away", "residents_committee").json()
            assert shown["held_alarms"] == len(held) and set(shown["held"]) == held
            assert shown["note"] == "visiting her daughter" and shown["id"] == absence["id"]
        assert deliver(app, clock, back)["ticket_id"] is None  # a sign of life: she is back
        clock.set(fall + DAY_MS + RETURN_GRACE_MS)
        assert [r.ticket_id for r in other.app.state.absence_ends.run_once()] == [None]
        assert app.app.state.absence_ends.run_once() == []
        assert committee_tickets(app) == []


def test_a_person_not_back_when_the_trip_ends_gets_a_visit(
        api: tuple[Api, ManualClock]) -> None:
    """She fell at home during a declared trip (or never left): the silence was raised once,
    inside the trip, and held. With no sign of life by the trip's end and its grace, the held
    alarm makes its ticket: the committee visits within 2 h, the police room after 30 min."""
    app, clock = api
    fall, alarms = fall_alarms("no_activity")
    [raised] = alarms
    absence = declare_trip(app, clock, fall)
    assert deliver(app, clock, raised)["ticket_id"] is None
    due = fall + DAY_MS + RETURN_GRACE_MS
    clock.set(due - 1)
    assert app.app.state.absence_ends.run_once() == []
    clock.set(due)
    [released] = app.app.state.absence_ends.run_once()
    assert (released.absence_id, released.alarm_id) == (absence["id"], raised.alarm_id)
    [ticket] = committee_tickets(app)
    assert ticket["id"] == released.ticket_id and ticket["assignee"] == "residents_committee"
    assert ticket["opened_at"] == due and ticket["on_site_due_at"] == due + 2 * HOUR_MS
    assert ticket["first_seen"] == raised.ts_ms
    assert ticket["evidence"]["declared_absence"] == {"id": absence["id"],
                                                      "ended_at": fall + DAY_MS}
    assert ticket["evidence"]["rule"] == raised.evidence["rule"]
    assert app.app.state.absence_ends.run_once() == []  # once
    assert deliver(app, clock, raised)["ticket_id"] is None  # the gateway's retry: still held
    assert len(committee_tickets(app)) == 1
    clock.set(ticket["ack_due_at"])
    app.app.state.escalator.run_once()
    assert app.ticket(ticket["id"], "police_room")["assignee"] == "police_room"


def test_a_declared_absence_names_a_watched_household(api: tuple[Api, ManualClock]) -> None:
    app, clock = api
    clock.set(START_MS)
    unknown = app.client.post("/api/away", json={"estate_id": "sim", "household": "h9",
                                                 "ends_at": START_MS + DAY_MS},
                              headers=app.auth("residents_committee"))
    assert unknown.status_code == 404 and unknown.json()["detail"]["reason"] == "unknown_household"
    backwards = app.client.post("/api/away", json={"estate_id": "sim", "household": "h1",
                                                   "ends_at": START_MS - 1},
                                headers=app.auth("residents_committee"))
    assert backwards.status_code == 422


def test_a_power_cut_makes_no_welfare_ticket(api: tuple[Api, ManualClock]) -> None:
    app, _clock = api
    _, alarms = fall_alarms("power_cut")
    assert [a for a in alarms if a.state is AlarmState.RAISE] == []
    assert committee_tickets(app) == []
