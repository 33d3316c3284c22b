"""One device's poison must not silence the estate. On the shipped broker configuration, with the
real gateway and platform processes: a detector publishes every message of the poison corpus on
its own topics; meanwhile another detector's smoke alarm is ticketed within 2 s, every poison
message is a counted dead letter, the gateway stays ready, and after a restart nothing is
redelivered to stick it again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from security_mqtt import BrokerFiles, MqttProbe, SecureBroker
from security_setup import Provisioned

from gongzhi.gateway.decode import MAX_PAYLOAD_BYTES
from tests.conftest import free_port
from tests.e2e.harness import System, make_system, wait_until
from tests.fuzz.poison_corpus import poison_corpus

pytestmark = pytest.mark.integration

ESTATE = "e2e"
ATTACKER, VICTIM, LATER = "smoke-302", "smoke-301", "smoke-401"


@pytest.fixture
def estate(tmp_path: Path, certs: Path) -> Iterator[tuple[System, SecureBroker, dict[str, str]]]:
    sysm = make_system(tmp_path / "sys", "", free_port)
    provisioned = Provisioned(sysm.root / "registry.csv", tmp_path / "mqtt")
    assert provisioned.run() == 0
    broker = SecureBroker(tmp_path, BrokerFiles(
        passwd=provisioned.out_dir / "passwd", acl=provisioned.out_dir / "acl", certs=certs,
        data=tmp_path / "broker-data"))
    broker.start()
    passwords = provisioned.passwords
    sysm.broker_url = (f"mqtt://gateway:{quote(passwords['gateway'], safe='')}"
                       f"@127.0.0.1:{broker.plain_port}")
    platform = sysm.add("platform", "platform")
    gateway = sysm.add("gateway", "gateway")
    try:
        platform.start()
        sysm.wait_healthy(f"{sysm.base}/healthz")
        gateway.start()
        sysm.wait_subscribed()
        yield sysm, broker, passwords
    finally:
        for svc in reversed(list(sysm.services.values())):
            svc.stop()
        broker.stop()


def device(broker: SecureBroker, passwords: dict[str, str], device_id: str) -> MqttProbe:
    probe = MqttProbe(broker.plain_port, device_id, passwords[device_id], client_id=device_id)
    rc = probe.connect()
    assert rc is not None and not rc.is_failure, rc
    return probe


def smoke_tickets(sysm: System, device_id: str) -> list[dict[str, object]]:
    return [t for t in sysm.tickets("property_office")
            if t["device_id"] == device_id and t["kind"] == "smoke_alarm"]


def gateway_get(sysm: System, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{sysm.gateway_port}{path}", timeout=5)


def counter_total(sysm: System, name: str) -> int:
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in sysm.gateway_metrics().splitlines()
               if line.startswith(f"gongzhi_gateway_{name}"))


def rejected_total(sysm: System) -> int:
    """Messages refused, and events kept without their malformed detail: each is a letter."""
    return (counter_total(sysm, "messages_rejected_total")
            + counter_total(sysm, "event_details_dropped_total"))


def test_poison_from_one_device_never_holds_back_another_devices_smoke_alarm(
        estate: tuple[System, SecureBroker, dict[str, str]]) -> None:
    sysm, broker, passwords = estate
    now = time.time_ns() // 1_000_000
    # Larger payloads than the broker's packet limit never reach the gateway (the broker cuts
    # the publisher off): the in-process poison test sends those.
    corpus = [(topic, payload) for topic, payload in poison_corpus(ATTACKER, ESTATE, now)
              if len(payload) <= MAX_PAYLOAD_BYTES]
    attacker = device(broker, passwords, ATTACKER)
    victim = device(broker, passwords, VICTIM)
    try:
        half = len(corpus) // 2
        for topic, payload in corpus[:half]:
            assert not attacker.publish(topic, payload).is_failure
        alarm = {"ts": time.time_ns() // 1_000_000, "seq": 1, "event": "smoke_alarm",
                 "detail": {"note": "烟雾 ✓"}}
        assert not victim.publish(f"estate/{ESTATE}/{VICTIM}/event", json.dumps(alarm)).is_failure
        for topic, payload in corpus[half:]:
            assert not attacker.publish(topic, payload).is_failure
        [ticket] = wait_until(lambda: smoke_tickets(sysm, VICTIM), 2.0,
                              "the other detector's smoke alarm ticket")
        assert ticket["evidence"]["detail"] == {"note": "烟雾 ✓"}  # type: ignore[index]
        wait_until(lambda: rejected_total(sysm) >= len(corpus), 10.0, "every dead letter")
    finally:
        attacker.close()
        victim.close()
    assert rejected_total(sysm) == len(corpus)
    letters = gateway_get(sysm, "/dead-letters?limit=1000").json()
    assert len(letters) == len(corpus)
    assert {letter["topic"].split("/")[2] for letter in letters} == {ATTACKER}
    assert all(letter["reason"] and letter["reason"] != "internal_error" for letter in letters)
    # A smoke alarm with a malformed note is still a smoke alarm: raised, without the note.
    assert [t["evidence"]["detail"] for t in smoke_tickets(sysm, ATTACKER)] == [{}]  # type: ignore[index]
    ready = gateway_get(sysm, "/readyz")
    assert ready.status_code == 200, ready.text

    # Everything was acknowledged: a restarted gateway gets nothing back to choke on.
    gateway = sysm.services["gateway"]
    gateway.stop()
    gateway.start()
    sysm.wait_subscribed()
    later = device(broker, passwords, LATER)
    try:
        alarm["ts"] = time.time_ns() // 1_000_000
        assert not later.publish(f"estate/{ESTATE}/{LATER}/event", json.dumps(alarm)).is_failure
        wait_until(lambda: smoke_tickets(sysm, LATER), 2.0, "a smoke alarm after the restart")
    finally:
        later.close()
    assert rejected_total(sysm) == 0  # a fresh process: nothing redelivered was refused again
