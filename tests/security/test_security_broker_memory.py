"""One device's flood cannot exhaust the deployment broker (deploy/mosquitto/mosquitto.conf, run
for real): a packet larger than a device needs is refused before it is read, and what the broker
keeps for the gateway while the gateway is away is bounded in bytes. Measured as the resident
size of the broker process, peak included (``VmHWM``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from security_mqtt import SHIPPED_CONF, WAIT_S, SecureBroker
from security_setup import ClientFactory

pytestmark = pytest.mark.integration

MIB = 1 << 20
SESSION_S = 3600
TOPIC = "estate/e1/dev-1/event"


def directive(name: str) -> int:
    found = re.search(rf"^{name}\s+(\d+)\s*$", SHIPPED_CONF.read_text(), re.M)
    assert found is not None, f"the shipped broker config must set {name}"
    return int(found.group(1))


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of a process, in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]
            for key in ("VmRSS", "VmHWM")}


def broker_pid(broker: SecureBroker) -> int:
    assert broker.proc is not None
    return broker.proc.pid


def test_the_limits_are_sized_for_devices() -> None:
    packet, queued = directive("max_packet_size"), directive("max_queued_bytes")
    assert 64 * 1024 < packet <= 66 * 1024, "the gateway's payload limit plus the headers"
    assert 0 < queued <= 256 * MIB


def test_a_packet_larger_than_a_device_needs_is_refused_unread(
        client: ClientFactory, secure_broker: SecureBroker) -> None:
    """The found attack sent 1.999 MB packets; each now ends the connection at its header."""
    pid = broker_pid(secure_broker)
    gateway = client("gateway", session_expiry_s=SESSION_S)
    assert gateway.connect() == 0
    gateway.subscribe("estate/#")
    gateway.close()
    before = memory_kib(pid)
    payload = b"x" * 1_999_000
    for _ in range(40):  # 80 MB offered
        device = client("dev-1")
        assert device.connect() == 0
        device.publish_unacknowledged(TOPIC, payload)
        assert device.disconnected.wait(WAIT_S), "an oversized packet was taken"
    after = memory_kib(pid)
    assert after["VmHWM"] - before["VmRSS"] < 16 * 1024, (before, after)

    back = client("gateway", session_expiry_s=SESSION_S)
    assert back.connect() == 0 and back.session_present is True
    marker = client("dev-2")
    assert marker.connect() == 0
    assert not marker.publish("estate/e1/dev-2/telemetry", "{}").is_failure
    assert back.next_message().topic == "estate/e1/dev-2/telemetry"  # nothing of dev-1 queued


@pytest.mark.parametrize("gateway_state", ["away", "stalled"])
def test_one_devices_flood_stays_within_the_byte_cap(
        client: ClientFactory, secure_broker: SecureBroker, gateway_state: str) -> None:
    """A device sends 2.5 times the byte cap of the largest messages the broker takes while
    the gateway's session is away (disconnected) or stalled (connected, reading nothing). The
    broker keeps at most the cap plus what may be in flight to the session
    (``max_inflight_messages`` packets) and drops the rest; it stays responsive, and a gateway
    coming back drains what was kept."""
    cap, packet = directive("max_queued_bytes"), directive("max_packet_size")
    inflight = directive("max_inflight_messages")
    pid = broker_pid(secure_broker)
    gateway = client("gateway", session_expiry_s=SESSION_S)
    assert gateway.connect() == 0
    gateway.subscribe("estate/#")
    if gateway_state == "away":
        gateway.close()
    else:
        gateway.stall()

    payload = b"x" * (packet - 256)
    flood = client("dev-1")
    assert flood.connect() == 0
    before = memory_kib(pid)
    sent = 0
    while sent < 2.5 * cap:
        assert not flood.publish(TOPIC, payload).is_failure
        sent += len(payload)
    after = memory_kib(pid)
    bound = cap + inflight * packet + 32 * MIB  # the rest: allocator slack, bookkeeping
    grown = (after["VmHWM"] - before["VmRSS"]) * 1024
    assert grown < bound, f"broker grew {grown / MIB:.0f} MiB for {sent / MIB:.0f} MiB sent"
    print(f"gateway {gateway_state}: broker grew {grown / MIB:.0f} MiB (peak) while a device "
          f"sent {sent / MIB:.0f} MiB; bound {bound / MIB:.0f} MiB")

    other = client("dev-2")
    assert other.connect() == 0
    # Still served; this message finds the session's queue full and is dropped.
    assert not other.publish("estate/e1/dev-2/telemetry", "{}").is_failure
    if gateway_state == "stalled":
        return
    back = client("gateway", session_expiry_s=SESSION_S)
    assert back.connect() == 0 and back.session_present is True
    assert back.next_message().topic == TOPIC
    received = 1
    # Draining has begun (up to max_inflight_messages moved out of the queue): room again.
    assert not other.publish("estate/e1/dev-2/telemetry", "{}").is_failure
    while (message := back.next_message()).topic == TOPIC:
        received += 1
    assert message.topic == "estate/e1/dev-2/telemetry"
    kept = received * len(payload)
    assert cap <= kept <= cap + inflight * packet, (kept, sent)
