"""Server push through a real uvicorn server: per-party filtering, replay from Last-Event-ID
across a restart of the platform, keepalive."""

from __future__ import annotations

import json

import httpx
from hub_helpers import ESTATE, Server, SseReader, alarm, free_port

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.hub.app import create_app


def _server(settings: Settings, clock: ManualClock) -> Server:
    return Server(create_app(settings, clock, background=False, keepalive_s=0.2,
                             poll_s=0.05), free_port()).start()


def _post(server: Server, tokens: dict[str, str], body: dict[str, object]) -> int:
    response = httpx.post(f"{server.url}/api/alarms", json=body,
                          headers={"Authorization": f"Bearer {tokens['gateway']}"})
    assert response.status_code == 200, response.text
    ticket_id: int = response.json()["ticket_id"]
    return ticket_id


def _auth(tokens: dict[str, str], party: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[party]}", **extra}


def test_each_party_streams_only_its_tickets_and_replays_after_restart(
        settings: Settings, clock: ManualClock, tokens: dict[str, str]):
    server = _server(settings, clock)
    try:
        with SseReader(f"{server.url}/api/stream", _auth(tokens, "property_office")) as office, \
                SseReader(f"{server.url}/api/stream", _auth(tokens, "police_room")) as police:
            assert office.status == 200
            assert office.content_type is not None
            assert office.content_type.startswith("text/event-stream")
            smoke = _post(server, tokens, alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))
            first = office.next()
            assert first.event == "ticket"
            assert json.loads(first.data)["id"] == smoke
            assert json.loads(first.data)["elderly_alone"] is True
            tamper = _post(server, tokens, alarm(AlarmKind.TAMPER, "smk-b2"))
            pressure = _post(server, tokens, alarm(AlarmKind.WATER_PRESSURE_LOW, "wp-r1"))
            assert [json.loads(e.data)["id"] for e in (office.next(), office.next())] == [
                tamper, pressure]
            seen_by_police = police.drain()
            assert [json.loads(e.data)["id"] for e in seen_by_police] == [tamper]
            assert seen_by_police[0].id is not None and first.id is not None
            assert seen_by_police[0].id > first.id
            assert any(c == ": keepalive" for c in office.comments + police.comments)
    finally:
        server.stop()

    # A new process on the same database: the police room resumes after the first event.
    server = _server(settings, clock)
    try:
        resume = _auth(tokens, "police_room", **{"Last-Event-ID": str(first.id)})
        with SseReader(f"{server.url}/api/stream", resume) as police:
            replayed = police.next()
            assert json.loads(replayed.data)["id"] == tamper
            assert replayed.id == seen_by_police[0].id
            live = _post(server, tokens, alarm(AlarmKind.OFFLINE_CLUSTER, f"{ESTATE}:B1",
                                               building="B1"))
            event = police.next()
            assert json.loads(event.data)["id"] == live
            assert event.id is not None and event.id > replayed.id
            assert police.drain(0.3) == []
    finally:
        server.stop()


def test_stream_needs_a_party_token(settings: Settings, clock: ManualClock,
                                    tokens: dict[str, str]):
    server = _server(settings, clock)
    try:
        assert httpx.get(f"{server.url}/api/stream").status_code == 401
        assert httpx.get(f"{server.url}/api/stream",
                         headers=_auth(tokens, "gateway")).status_code == 403
        assert httpx.get(f"{server.url}/api/stream", headers=_auth(
            tokens, "police_room", **{"Last-Event-ID": "x"})).status_code == 422
    finally:
        server.stop()


def test_an_id_from_another_database_does_not_silence_the_stream(
        settings: Settings, clock: ManualClock, tokens: dict[str, str]):
    server = _server(settings, clock)
    try:
        stale = _auth(tokens, "property_office", **{"Last-Event-ID": "999999"})
        with SseReader(f"{server.url}/api/stream", stale) as office:
            tid = _post(server, tokens, alarm(AlarmKind.TAMPER, "smk-young"))
            event = office.next()
            assert (event.id, json.loads(event.data)["id"]) == (1, tid)
    finally:
        server.stop()
