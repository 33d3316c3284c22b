"""Declared absences in the ticket store, on SQLite and the real PostgreSQL: two platforms on one
database see, end and hold on the same absences; only the residents' committee declares (the
police room reads too); a database of the previous release (migrations 1-5) upgrades, and its
platform's ``away.json`` is taken in once and renamed, nothing in it lost."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from hub_helpers import ESTATE, Api, ApiFactory, alarm
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.hub.away_store import RETURN_GRACE_MS, SqlAbsences
from gongzhi.hub.parties import Party
from gongzhi.hub.store import open_store
from gongzhi.hub.store.records import AuditEntry
from gongzhi.hub.store.schema import _LEDGER, DIALECTS, MIGRATIONS, statements

NOW = 1_780_000_000_000
DAY_MS = 86_400_000
HOUR = 3_600_000
HOUSEHOLD = "H301"  # smk-elderly and el-301, flagged elderly-alone


def _welfare(alarm_id: str, ts_ms: int, state: AlarmState = AlarmState.RAISE) -> dict[str, Any]:
    body: dict[str, Any] = alarm(AlarmKind.WELFARE_CHECK, "el-301", alarm_id=alarm_id,
                                 ts_ms=ts_ms, state=state, evidence={"rule": "first_activity"})
    return body


def _declare(api: Api, party: str = "residents_committee", **body: Any) -> Any:
    return api.client.post("/api/away", headers=api.auth(party), json={
        "estate_id": ESTATE, "household": HOUSEHOLD, "ends_at": NOW + 2 * DAY_MS, **body})


def _absences(api: Api, party: str = "residents_committee") -> list[dict[str, Any]]:
    answer = api.get("/api/away", party)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def _replica_dir(data_dir: Path, name: str) -> Path:
    """A second platform's own data directory: the same tokens and registry, no other file."""
    other = data_dir.parent / name
    other.mkdir()
    for file in ("tokens.json", "registry.csv"):
        shutil.copy(data_dir / file, other / file)
    return other


def test_two_platforms_on_one_database_share_absences(make_api: ApiFactory, settings: Settings,
                                                      clock: ManualClock, data_dir: Path) -> None:
    clock.set(NOW)
    first = make_api()
    second = make_api(settings=Settings(data_dir=_replica_dir(data_dir, "replica"),
                                        database_url=settings.database_url))
    made = _declare(first, note="住院一周")
    assert made.status_code == 201, made.text
    absence = made.json()
    assert absence == {"id": absence["id"], "estate_id": ESTATE, "household": HOUSEHOLD,
                       "starts_at": NOW, "ends_at": NOW + 2 * DAY_MS,
                       "declared_by": "residents_committee", "note": "住院一周",
                       "created_at": NOW, "ended_at": None, "held": [], "held_alarms": 0}
    assert _absences(second) == [absence]

    # The gateway's alarm reaches the second: held there, and shown by both.
    clock.set(NOW + DAY_MS)
    assert second.post_alarm(_welfare("al-w1", NOW + DAY_MS)) == {
        "ticket_id": None, "created": False, "duplicate": False}
    assert second.post_alarm(_welfare("al-w1", NOW + DAY_MS))["ticket_id"] is None  # again
    assert first.post_alarm(_welfare("al-w2", NOW + DAY_MS + 60_000))["ticket_id"] is None
    for api in (first, second):
        [shown] = _absences(api)
        assert (shown["held"], shown["held_alarms"]) == (["al-w1", "al-w2"], 2)
    # Other alarms of the household are not held: a fire is a fire.
    smoke = alarm(AlarmKind.SMOKE_ALARM, "smk-elderly", ts_ms=NOW + DAY_MS)
    assert first.post_alarm(smoke)["created"] is True

    # Back sooner, told to the second; the first sees it ended, and holds no more.
    clock.set(NOW + DAY_MS + HOUR)
    ended = second.client.post(f"/api/away/{absence['id']}/end",
                               headers=second.auth("residents_committee"))
    assert ended.status_code == 200 and ended.json()["ended_at"] == NOW + DAY_MS + HOUR
    assert _absences(first)[0]["ended_at"] == NOW + DAY_MS + HOUR
    late = first.post_alarm(_welfare("al-w3", NOW + DAY_MS + 2 * HOUR))
    assert late["created"] is True and late["ticket_id"] is not None
    assert not list(data_dir.glob("away.json*"))  # nothing kept beside the database

    store = open_store(settings.database)
    try:
        with store.transaction(0) as tx:
            actions = [(e.actor, e.action, e.detail.get("absence")) for e in tx.audit_entries()
                       if e.action.startswith("absence")]
    finally:
        store.close()
    assert actions == [("residents_committee", "absence_declare", absence["id"]),
                       ("residents_committee", "absence_end", absence["id"])]


@pytest.mark.parametrize("party", [p.value for p in Party
                                   if p is not Party.RESIDENTS_COMMITTEE])
def test_only_the_residents_committee_declares_and_ends(api: Api, clock: ManualClock,
                                                        party: str) -> None:
    clock.set(NOW)
    refused = _declare(api, party)
    assert refused.status_code == 403
    assert refused.json()["detail"]["reason"] == "not_allowed"
    absence = _declare(api).json()
    ended = api.client.post(f"/api/away/{absence['id']}/end", headers=api.auth(party))
    assert ended.status_code == 403 and ended.json()["detail"]["reason"] == "not_allowed"
    listed = api.get("/api/away", party)
    if party == Party.POLICE_ROOM.value:  # a forced entry after a trip needs to know of it
        assert [a["id"] for a in listed.json()] == [absence["id"]]
    else:
        assert listed.status_code == 403
        assert listed.json()["detail"]["reason"] == "not_allowed"
    assert _absences(api)[0]["ended_at"] is None
    households = api.get("/api/away/households", party)  # the elderly flag is the committee's
    assert households.status_code == 403
    assert households.json()["detail"]["reason"] == "not_allowed"


def test_the_committee_picks_from_the_households_flagged_elderly_alone(api: Api) -> None:
    answer = api.get("/api/away/households", "residents_committee")
    assert answer.status_code == 200, answer.text
    # H301 has two devices, both flagged: one entry; H302 and H305 are not flagged.
    assert answer.json() == [{"estate_id": ESTATE, "household": HOUSEHOLD, "location": {
        "estate_id": ESTATE, "building": "B1", "unit": "U1", "floor": "3", "room": "301"}}]


def test_a_households_absences_are_read_without_the_others(api: Api, clock: ManualClock) -> None:
    clock.set(NOW)
    book = SqlAbsences(api.app.state.hub.store)
    mine = book.declare(ESTATE, HOUSEHOLD, NOW, NOW + DAY_MS, "residents_committee", "", NOW)
    book.declare(ESTATE, "H302", NOW, NOW + DAY_MS, "residents_committee", "", NOW)
    book.declare("other-estate", HOUSEHOLD, NOW, NOW + DAY_MS, "residents_committee", "", NOW)
    assert book.of_household(ESTATE, HOUSEHOLD) == [mine]


def test_bad_declarations_are_refused_with_their_reason(api: Api, clock: ManualClock) -> None:
    clock.set(NOW)
    gateway = api.get("/api/away", "gateway")
    assert gateway.status_code == 403 and gateway.json()["detail"]["reason"] == "gateway_token"
    backwards = _declare(api, ends_at=NOW - 1)
    assert backwards.status_code == 422 and backwards.json()["detail"]["reason"] == "bad_span"
    too_long = _declare(api, ends_at=NOW + 93 * DAY_MS)
    assert too_long.status_code == 422 and too_long.json()["detail"]["reason"] == "bad_span"
    young = _declare(api, household="H302")  # a household not flagged elderly-alone
    assert young.status_code == 404 and young.json()["detail"]["reason"] == "unknown_household"
    missing = api.client.post("/api/away/99/end", headers=api.auth("residents_committee"))
    assert missing.status_code == 404 and missing.json()["detail"]["reason"] == "unknown_absence"
    assert _absences(api) == []


# --- the previous release: migrations 1-5, absences in away.json -----------------------------

LEGACY = [
    {"id": 1, "estate_id": ESTATE, "household": HOUSEHOLD, "starts_at": NOW - DAY_MS,
     "ends_at": NOW + 3 * DAY_MS, "declared_by": "residents_committee",
     "note": "去女儿家住几天", "created_at": NOW - DAY_MS - 5, "ended_at": None,
     "held": ["al-held-1", "al-held-2"]},
    {"id": 2, "estate_id": ESTATE, "household": HOUSEHOLD, "starts_at": NOW - 20 * DAY_MS,
     "ends_at": NOW - 10 * DAY_MS, "declared_by": "residents_committee", "note": "",
     "created_at": NOW - 21 * DAY_MS, "ended_at": NOW - 12 * DAY_MS, "held": []},
]


def _previous_release(url: str) -> None:
    """A database as the previous release left it: migrations 1-5 applied, nothing of 6."""
    engine = create_engine(url if url.startswith("sqlite:")
                           else make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as conn:
            dialect = DIALECTS[conn.dialect.name]
            conn.exec_driver_sql(_LEDGER)
            for version in range(1, 6):
                for statement in statements(dialect, version):
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql(f"INSERT INTO schema_migrations (version) VALUES ({version})")
    finally:
        engine.dispose()


def _as_shown(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "held_alarms": len(record["held"])}


def test_a_previous_release_upgrades_and_takes_in_its_away_file_once(
        make_api: ApiFactory, settings: Settings, clock: ManualClock, data_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _previous_release(settings.database)
    legacy = json.dumps(LEGACY, ensure_ascii=False)
    (data_dir / "away.json").write_text(legacy, encoding="utf-8")
    clock.set(NOW)
    with caplog.at_level(logging.INFO, logger="gongzhi.hub.away_store"):
        api = make_api()
    assert _absences(api) == [_as_shown(r) for r in LEGACY]  # numbered 1, 2 in an empty table
    assert not (data_dir / "away.json").exists()
    assert (data_dir / "away.json.imported").read_text("utf-8") == legacy
    assert "2 new of 2" in caplog.text
    store = open_store(settings.database)
    with store.transaction(0) as tx:
        assert tx.schema_versions() == [m[0] for m in MIGRATIONS]
        [entry] = [e for e in tx.audit_entries() if e.action == "absences_import"]
    assert isinstance(entry, AuditEntry) and entry.actor == "platform"
    assert (entry.detail["absences"], entry.detail["new"]) == (2, 2)

    # The imported absence holds as one declared here does; the alarm is added to its list.
    assert api.post_alarm(_welfare("al-held-3", NOW))["ticket_id"] is None
    assert _absences(api)[0]["held"] == ["al-held-1", "al-held-2", "al-held-3"]
    # Declared after the import: the next number.
    assert _declare(api, starts_at=NOW + 5 * DAY_MS, ends_at=NOW + 6 * DAY_MS).json()["id"] == 3

    # A restart finds no file; the same file put back (a copy restored) adds nothing.
    api.close()
    assert len(_absences(make_api())) == 3
    shutil.copy(data_dir / "away.json.imported", data_dir / "away.json")
    again = make_api()
    assert [a["id"] for a in _absences(again)] == [1, 2, 3]
    assert _absences(again)[0]["held_alarms"] == 3
    assert not (data_dir / "away.json").exists()
    assert (data_dir / "away.json.imported.2").read_text("utf-8") == legacy
    store.close()


def test_an_away_file_of_an_earlier_release_is_taken_in_beside_absences_declared_here(
        make_api: ApiFactory, settings: Settings, clock: ManualClock, data_dir: Path) -> None:
    """A replica upgraded later than another: its file's absences join the database's, under
    new numbers, and the household's absences of both hold."""
    clock.set(NOW)
    first = make_api()
    mine = _declare(first, starts_at=NOW + 4 * DAY_MS, ends_at=NOW + 5 * DAY_MS).json()
    later = _replica_dir(data_dir, "later")
    (later / "away.json").write_text(json.dumps(LEGACY[:1]), encoding="utf-8")
    second = make_api(settings=Settings(data_dir=later, database_url=settings.database_url))
    shown = _absences(first)
    assert [a["id"] for a in shown] == [mine["id"], mine["id"] + 1]
    assert shown[1] == _as_shown({**LEGACY[0], "id": mine["id"] + 1})
    assert second.post_alarm(_welfare("al-in-file", NOW))["ticket_id"] is None
    assert first.post_alarm(_welfare("al-in-mine", NOW + 4 * DAY_MS + 1))["ticket_id"] is None
    assert [a["held"][-1] for a in _absences(second)] == ["al-in-mine", "al-in-file"]


def _spoiled(**change: Any) -> str:
    return json.dumps([{**LEGACY[0], **change}])


@pytest.mark.parametrize("content", [
    "{not json", '{"id": 1}', '[{"id": "one"}]', _spoiled(ends_at=2**63),
    _spoiled(note="a\x00b"), _spoiled(held=["\udc80"]), _spoiled(extra=1)])
def test_an_unreadable_away_file_is_kept_and_said(make_api: ApiFactory, clock: ManualClock,
                                                  data_dir: Path, content: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    (data_dir / "away.json").write_text(content, encoding="utf-8")
    clock.set(NOW)
    with caplog.at_level(logging.ERROR, logger="gongzhi.hub.away_store"):
        api = make_api()
    assert api.get("/readyz", "residents_committee").status_code == 200  # the platform serves
    assert _absences(api) == []
    assert (data_dir / "away.json").read_text("utf-8") == content  # kept as it was
    assert "not imported, the file is kept" in caplog.text


def test_held_alarms_not_cleared_by_the_end_make_one_ticket_across_replicas(
        make_api: ApiFactory, settings: Settings, clock: ManualClock, data_dir: Path) -> None:
    """Ended sooner by the committee: the alarm held and not cleared makes its ticket after the
    grace, once, whichever replica's pass comes first; the one cleared by a sign of life makes
    none; an imported alarm (its id only) is passed over."""
    (data_dir / "away.json").write_text(json.dumps(LEGACY[:1]), encoding="utf-8")
    clock.set(NOW)
    first = make_api()
    second = make_api(settings=Settings(data_dir=_replica_dir(data_dir, "replica"),
                                        database_url=settings.database_url))
    absence = _absences(first)[0]
    assert first.post_alarm(_welfare("al-silent", NOW + 1))["ticket_id"] is None
    clock.set(NOW + DAY_MS)
    ended = first.client.post(f"/api/away/{absence['id']}/end",
                              headers=first.auth("residents_committee"))
    assert ended.status_code == 200
    ends = [first.app.state.absence_ends, second.app.state.absence_ends]
    clock.set(NOW + DAY_MS + RETURN_GRACE_MS - 1)
    assert [e.run_once() for e in ends] == [[], []]
    clock.set(NOW + DAY_MS + RETURN_GRACE_MS)
    [released] = second.app.state.absence_ends.run_once()
    assert (released.absence_id, released.alarm_id) == (absence["id"], "al-silent")
    assert first.app.state.absence_ends.run_once() == []
    ticket = first.ticket(released.ticket_id, "residents_committee")
    assert ticket["kind"] == "welfare_check" and ticket["opened_at"] == clock.now_ms()
    assert ticket["evidence"]["declared_absence"] == {"id": absence["id"],
                                                      "ended_at": NOW + DAY_MS}

    # Another absence: back (a CLEAR from the gateway) before its end, no ticket.
    clock.set(NOW + 2 * DAY_MS)
    other = _declare(first, ends_at=NOW + 3 * DAY_MS).json()
    assert second.post_alarm(_welfare("al-away", NOW + 2 * DAY_MS + 5))["ticket_id"] is None
    # The sign of life is noted on the household's welfare ticket still open (the first).
    assert second.post_alarm(_welfare("al-away", NOW + 2 * DAY_MS + 9,
                                      AlarmState.CLEAR))["ticket_id"] == released.ticket_id
    clock.set(NOW + 3 * DAY_MS + RETURN_GRACE_MS)
    [back] = first.app.state.absence_ends.run_once()
    assert (back.absence_id, back.ticket_id) == (other["id"], None)
    tickets = first.get("/api/tickets", "residents_committee").json()
    assert [t["id"] for t in tickets if t["kind"] == "welfare_check"] == [released.ticket_id]
