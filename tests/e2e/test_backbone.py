"""Issue 2's end-to-end slice: real Mosquitto, the real gateway and platform processes.

A device publishes; the gateway validates, detects and hands the alarm over; the platform opens a
ticket routed by the duty matrix; each party sees exactly what it may.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Broker, free_port
from tests.e2e.harness import Device, System, make_system, wait_until

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def system(tmp_path: Path, broker: Broker) -> Iterator[System]:
    sysm = make_system(tmp_path / "sys", broker.url, free_port)
    platform = sysm.add("platform", "platform")
    gateway = sysm.add("gateway", "gateway")
    platform.start()
    sysm.wait_healthy(f"{sysm.base}/healthz")
    gateway.start()
    sysm.wait_subscribed()
    try:
        yield sysm
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()


def event(name: str, ts: int | None = None, **detail: Any) -> dict[str, Any]:
    return {"ts": ts if ts is not None else now_ms(), "event": name, "detail": detail}


def open_tickets(sysm: System, party: str, kind: str) -> list[dict[str, Any]]:
    return [t for t in sysm.tickets(party) if t["kind"] == kind]


def test_smoke_alarm_of_elderly_household_reaches_office_and_residents_committee(
        system: System, broker: Broker) -> None:
    with Device(broker.port) as dev:
        published = time.monotonic()
        dev.publish("estate/e2e/smoke-301/event", event("smoke_alarm"))
        ticket = wait_until(lambda: open_tickets(system, "property_office", "smoke_alarm"),
                            2.0, "the smoke_alarm ticket")[0]
        elapsed = time.monotonic() - published
    assert elapsed <= 2.0
    assert ticket["severity"] == "critical"
    assert ticket["assignee"] == "property_office"
    assert "residents_committee" in ticket["notified"]
    assert ticket["device_id"] == "smoke-301"
    assert ticket["location"]["building"] == "B1" and ticket["location"]["room"] == "301"
    # The residents' committee sees it too; the owners' committee does not.
    assert [t["id"] for t in open_tickets(system, "residents_committee", "smoke_alarm")] == [
        ticket["id"]]
    assert system.api("owners_committee", f"/api/tickets/{ticket['id']}").status_code == 404


def test_tamper_goes_to_police_and_other_parties_are_kept_out(
        system: System, broker: Broker) -> None:
    with Device(broker.port) as dev:
        dev.publish("estate/e2e/smoke-302/event", event("tamper", reason="removed_from_base"))
        dev.publish("estate/e2e/press-r1/telemetry",
                    {"ts": now_ms() - 60_000, "seq": 1, "values": {"pressure_mpa": 0.30}})
        for i in range(1, 8):  # below 0.10 MPa for 35 s: a low-pressure alarm
            dev.publish("estate/e2e/press-r1/telemetry",
                        {"ts": now_ms() - 40_000 + i * 6_000, "seq": 1 + i,
                         "values": {"pressure_mpa": 0.05}})
    tamper = wait_until(lambda: open_tickets(system, "police_room", "tamper"), 5,
                        "the tamper ticket")[0]
    assert tamper["assignee"] == "police_room"
    assert "property_office" in tamper["notified"]
    assert system.api("owners_committee", f"/api/tickets/{tamper['id']}").status_code == 404

    water = wait_until(lambda: open_tickets(system, "property_office", "water_pressure_low"), 5,
                       "the water_pressure_low ticket")[0]
    assert system.api("police_room", f"/api/tickets/{water['id']}").status_code == 404
    assert water["id"] not in {t["id"] for t in system.tickets("police_room")}

    assert system.api(None, "/api/tickets").status_code == 401
    assert system.api(None, "/api/tickets", token="not-a-token").status_code == 401
    assert system.api(None, f"/api/tickets/{tamper['id']}", token="nope").status_code == 401


def test_ten_repeats_make_one_ticket_with_ten_occurrences(
        system: System, broker: Broker) -> None:
    start = now_ms() - 30_000
    with Device(broker.port) as dev:
        for i in range(10):  # two in each millisecond: distinct events all the same
            dev.publish("estate/e2e/smoke-401/event", event("tamper", ts=start + i // 2))

    def ten() -> list[dict[str, Any]] | None:
        tickets = [t for t in open_tickets(system, "police_room", "tamper")
                   if t["device_id"] == "smoke-401"]
        return tickets if tickets and tickets[0]["occurrences"] >= 10 else None

    tickets = wait_until(ten, 5, "occurrences to reach 10")
    assert len(tickets) == 1
    assert tickets[0]["occurrences"] == 10


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def test_garbage_is_counted_and_kept_and_the_gateway_carries_on(
        system: System, broker: Broker) -> None:
    garbage: list[tuple[str, bytes]] = [
        ("estate/e2e/smoke-302/telemetry", b"\x00not json{"),
        ("estate/e2e/smoke-302/telemetry", b'{"ts": "yesterday", "values": {"smoke_db_m": "x"}}'),
        ("estate/e2e/smoke-302/telemetry", b'{"values": {"smoke_db_m": NaN}}'),
        ("estate/e2e/no-such-device/telemetry", b'{"values": {"smoke_db_m": 0.01}}'),
        ("estate/e2e/smoke-302/telemetry", b'{"values": {"pressure_mpa": 0.3}}'),
        ("estate/e2e/smoke-302/telemetry", b"[" + b"1," * 500_000 + b"1]"),
    ]
    before = system.gateway_metrics()
    with Device(broker.port) as dev:
        for topic, payload in garbage:
            dev.publish(topic, payload)
        # The gateway is still working: a real alarm after the garbage makes its ticket.
        dev.publish("estate/e2e/smoke-302/event", event("smoke_alarm"))
    wait_until(lambda: open_tickets(system, "property_office", "smoke_alarm"), 5,
               "the smoke_alarm ticket after the garbage")

    def all_rejected() -> str | None:
        text = system.gateway_metrics()
        grown = (metric(text, "gongzhi_gateway_messages_rejected_total")
                 - metric(before, "gongzhi_gateway_messages_rejected_total"))
        return text if grown >= len(garbage) else None

    wait_until(all_rejected, 5, "every garbage message to be counted")
    letters = wait_until(
        lambda: system.services["gateway"].alive() and _dead_letters(system), 5, "dead letters")
    reasons = [d["reason"] for d in letters]
    assert len(letters) >= len(garbage)
    assert all(r for r in reasons), "every dead letter has a reason"
    assert len(set(reasons)) >= 4, reasons  # distinct failures get distinct reasons
    # Only the one real alarm made a ticket.
    kinds = [t["kind"] for t in system.tickets("property_office")]
    assert kinds == ["smoke_alarm"]


def _dead_letters(sysm: System) -> list[dict[str, Any]]:
    import httpx
    r = httpx.get(f"http://127.0.0.1:{sysm.gateway_port}/dead-letters?limit=100", timeout=5)
    body = r.json()
    return list(body["dead_letters"] if isinstance(body, dict) else body)


def test_platform_restart_mid_stream_loses_no_alarm_and_duplicates_none(
        system: System, broker: Broker) -> None:
    devices = [f"smoke-{n}" for n in range(401, 431)]
    platform = system.services["platform"]
    with Device(broker.port) as dev:
        for i, device in enumerate(devices):
            if i == 10:
                platform.kill()  # kill -9 in the middle of the stream
            if i == 20:
                platform.start()
            dev.publish(f"estate/e2e/{device}/event", event("smoke_alarm"))
    system.wait_healthy(f"{system.base}/healthz")

    def all_there() -> list[dict[str, Any]] | None:
        tickets = open_tickets(system, "property_office", "smoke_alarm")
        return tickets if len(tickets) >= len(devices) else None

    tickets = wait_until(all_there, 30, "a ticket for every alarm")
    assert sorted(t["device_id"] for t in tickets) == sorted(devices)
    assert all(t["occurrences"] == 1 for t in tickets)
