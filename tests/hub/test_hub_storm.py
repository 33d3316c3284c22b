"""Batch intake (``POST /api/alarms/batch``): one result per alarm, one bad alarm never refuses
the others, the batch routes exactly as the same alarms one by one would, and exactly one ticket
per alarm id holds across repeats, concurrent batches and two ``gongzhi platform`` processes on
one PostgreSQL."""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hub_helpers import DEVICES, ESTATE, Api, ApiFactory, PlatformProcess, alarm, free_port

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.schemas import MAX_ALARM_BATCH
from gongzhi.hub.tokens import new_tokens, write_tokens


def post_batch(api: Api, alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = api.client.post("/api/alarms/batch", json={"alarms": alarms},
                               headers=api.auth("gateway"))
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert len(results) == len(alarms)
    return results


def test_each_alarm_gets_its_own_result_in_order(api: Api) -> None:
    known = alarm(AlarmKind.TAMPER, "smk-b2", ts_ms=5)
    first = api.post_alarm(known)
    fresh = alarm(AlarmKind.SMOKE_ALARM, "smk-young", ts_ms=10)
    results = post_batch(api, [
        fresh,
        {"alarm_id": "no-kind", "device_id": "smk-young", "estate_id": ESTATE, "ts_ms": 1},
        alarm(AlarmKind.TAMPER, "nobody-installed-me", ts_ms=11),
        known,
        fresh,  # twice in one batch: one ticket, the second is a repeat
        alarm(AlarmKind.SMOKE_ALARM, "smk-young", ts_ms=10, state=AlarmState.CLEAR,
              alarm_id=fresh["alarm_id"]),
    ])
    stored, invalid, unregistered, repeat, again, clear = results
    assert stored["result"] == "stored" and stored["created"] and stored["ticket_id"]
    assert invalid["result"] == "refused" and invalid["reason"] == "invalid_alarm"
    assert "kind" in invalid["message"] and invalid["alarm_id"] is None
    assert unregistered["result"] == "refused" and unregistered["reason"] == "unregistered_device"
    assert repeat == {"alarm_id": known["alarm_id"], "result": "duplicate",
                      "ticket_id": first["ticket_id"], "created": False, "reason": None,
                      "message": None}
    assert again["result"] == "duplicate" and again["ticket_id"] == stored["ticket_id"]
    assert clear["result"] == "stored" and clear["ticket_id"] == stored["ticket_id"]
    ticket = api.ticket(stored["ticket_id"])
    assert ticket["occurrences"] == 1
    assert [e["type"] for e in ticket["timeline"]][-1] == "clear"
    # Delivering the whole batch again changes nothing.
    repeated = post_batch(api, [fresh, known])
    assert [r["result"] for r in repeated] == ["duplicate", "duplicate"]
    assert api.ticket(stored["ticket_id"])["occurrences"] == 1
    metrics = api.client.get("/metrics").text
    assert 'gongzhi_alarms_refused_total{reason="invalid_alarm"} 1' in metrics
    assert 'gongzhi_alarms_refused_total{reason="unregistered_device"} 1' in metrics


def test_a_batch_is_bounded_and_needs_the_gateway_token(api: Api) -> None:
    body = {"alarms": [alarm(AlarmKind.TAMPER, "smk-b2", ts_ms=i)
                       for i in range(MAX_ALARM_BATCH + 1)]}
    assert api.client.post("/api/alarms/batch", json=body,
                           headers=api.auth("gateway")).status_code == 422
    assert api.client.post("/api/alarms/batch", json={"alarms": body["alarms"][:3]},
                           headers=api.auth("property_office")).status_code == 403
    assert api.client.post("/api/alarms/batch", json={"alarms": []},
                           headers=api.auth("gateway")).status_code == 422


def _storm(seed: int, count: int) -> list[dict[str, Any]]:
    """Alarms on every device of the helpers' registry, repeated kinds (occurrences and the
    duty matrix's history counts), a few clears, in a seeded order."""
    rng = random.Random(seed)
    kinds = {DeviceType.SMOKE: [AlarmKind.SMOKE_ALARM, AlarmKind.FIRE, AlarmKind.TAMPER,
                                AlarmKind.LOW_BATTERY],
             DeviceType.WATER_PRESSURE: [AlarmKind.WATER_PRESSURE_LOW],
             DeviceType.ELECTRICAL: [AlarmKind.ELECTRICAL_LEAKAGE, AlarmKind.ARC_FAULT]}
    found: list[dict[str, Any]] = []
    for i in range(count):
        record = rng.choice(DEVICES)
        kind = rng.choice(kinds[record.type])
        state = AlarmState.CLEAR if found and rng.random() < 0.05 else AlarmState.RAISE
        source = rng.choice(found) if state is AlarmState.CLEAR else None
        if source is not None:
            found.append(dict(source, state="clear"))
            continue
        found.append(alarm(kind, record.device_id, alarm_id=f"st-{seed}-{i}",
                           ts_ms=1_000 + i * 1_000))
    return found


def _tickets(api: Api) -> list[tuple[Any, ...]]:
    answer = api.get("/api/tickets", "police_room", limit=500)
    assert answer.status_code == 200
    return sorted((t["device_id"], t["kind"], t["severity"], t["assignee"], t["occurrences"],
                   tuple(t["notified"]), t["rule_id"]) for t in answer.json())


def test_a_batch_routes_as_the_same_alarms_one_by_one(
        make_api: ApiFactory, settings: Settings, data_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    alarms = _storm(7, 300)
    one_by_one = make_api()
    for body in alarms:
        one_by_one.post_alarm(body)
    other = data_dir / "batched"
    other.mkdir()
    batched = make_api(settings=Settings(
        data_dir=data_dir, database_url=f"sqlite:///{other / 'platform.db'}"))
    for start in range(0, len(alarms), 37):
        results = post_batch(batched, alarms[start:start + 37])
        assert {r["result"] for r in results} <= {"stored", "duplicate"}
    assert _tickets(batched) == _tickets(one_by_one)
    # Taken as batches, not one by one after a failure.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _registry(devices: int) -> list[DeviceRecord]:
    return [DeviceRecord(f"d{i:04d}", DeviceType.ELECTRICAL,
                         Location(ESTATE, f"B{i % 6}", "U1", str(i % 9), f"{i:04d}"),
                         household=f"H{i}", riser=f"R{i % 12}")
            for i in range(devices)]


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_exactly_once_across_two_platform_processes_on_one_postgresql(
        postgres_url: str, tmp_path: Path) -> None:
    """Two ``gongzhi platform`` processes on one database; four senders deliver overlapping
    batches of the same 1,200 alarms to both at once, each in its own order. Every alarm id is
    stored once, and the tickets' occurrences add up to the alarms."""
    devices = 150
    data = tmp_path / "data"
    data.mkdir()
    tokens = new_tokens()
    write_tokens(data / "tokens.json", tokens)
    write_registry(data / "registry.csv", _registry(devices))
    kinds = (AlarmKind.TAMPER, AlarmKind.ELECTRICAL_LEAKAGE, AlarmKind.ARC_FAULT)
    alarms = [{"alarm_id": f"pc-{i}", "kind": kinds[i % 3].value,
               "device_id": f"d{i % devices:04d}", "estate_id": ESTATE, "ts_ms": 1_000 + i,
               "state": "raise", "evidence": {"n": i}, "building": None}
              for i in range(1200)]
    ports = [free_port(), free_port()]
    env = {"GONGZHI_DATABASE_URL": postgres_url}
    errors: list[str] = []
    with PlatformProcess(data, ports[0], **env) as one, PlatformProcess(data, ports[1], **env) \
            as two, httpx.Client(timeout=60) as client:
        for proc, port in ((one, ports[0]), (two, ports[1])):
            assert proc.first_answer(client, f"http://127.0.0.1:{port}/readyz",
                                     timeout_s=60).status_code in (200, 503)

        def send(seed: int) -> None:
            order = list(alarms)
            random.Random(seed).shuffle(order)
            url = f"http://127.0.0.1:{ports[seed % 2]}/api/alarms/batch"
            with httpx.Client(timeout=60) as own:
                for start in range(0, len(order), 150):
                    answer = own.post(url, json={"alarms": order[start:start + 150]},
                                      headers={"Authorization": f"Bearer {tokens['gateway']}"})
                    if answer.status_code != 200:
                        errors.append(answer.text)
                        return
                    results = answer.json()["results"]
                    if {r["result"] for r in results} - {"stored", "duplicate"}:
                        errors.append(str(results))

        senders = [threading.Thread(target=send, args=(seed,)) for seed in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=300)
    assert errors == [], one.err[-4000:] + two.err[-4000:]
    assert "ERROR" not in one.err + two.err  # no batch was taken one by one after a failure
    with psycopg.connect(postgres_url) as conn:
        def one(sql: str) -> tuple[Any, ...]:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return tuple(row)

        receipts = one("SELECT count(*), count(DISTINCT alarm_id), count(ticket_id) "
                       "FROM alarm_receipts")
        tickets, occurrences = one("SELECT count(*), sum(occurrences) FROM tickets")
        events, last_seq = one("SELECT count(*), max(seq) FROM ticket_events")
    assert receipts == (1200, 1200, 1200)
    assert occurrences == 1200
    assert tickets == devices  # device i % 150 always has kind i % 3: one pair per device
    assert events == last_seq  # event numbers have no gaps and no repeats
