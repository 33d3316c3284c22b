"""Whose session is whose, and what outlives a client, on the deployment broker
(deploy/mosquitto/mosquitto.conf, run for real): one session per user whatever client id a
client sends, and no retained messages.

Negative checks end on a QoS 1 PUBACK or a message on the same connection, as in
test_security_broker.py: the broker sends those only after anything routed before them.
"""

from __future__ import annotations

import json

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from security_mqtt import WAIT_S, MqttProbe
from security_setup import ClientFactory

pytestmark = pytest.mark.integration

SESSION_S = 3600
RETAIN_NOT_SUPPORTED = 0x9A


def telemetry(seq: int) -> str:
    return json.dumps({"ts": 1_767_225_600_000 + seq, "seq": seq, "values": {"smoke_db_m": 0.01}})


def topics_and_seqs(probe: MqttProbe, count: int) -> list[tuple[str, int]]:
    return [(m.topic, json.loads(m.payload)["seq"])
            for m in (probe.next_message() for _ in range(count))]


@pytest.mark.parametrize("stolen_id", ["gongzhi-gateway", "gateway", "gateway-b"])
def test_a_device_cannot_take_over_the_gateways_session(client: ClientFactory,
                                                        stolen_id: str) -> None:
    """The attack: a device's credentials with the gateway's client id, persistent session
    asked for, while the gateway is away (to inherit its queue) and while it is connected (to
    push it off)."""
    gateway = client("gateway", client_id="gongzhi-gateway", session_expiry_s=SESSION_S)
    assert gateway.connect() == 0
    assert not gateway.subscribe("estate/#")[0].is_failure
    gateway.close()  # away: the broker keeps its session and queues for it

    victim = client("dev-2")
    assert victim.connect() == 0
    for seq in (1, 2, 3):
        assert not victim.publish("estate/e1/dev-2/telemetry", telemetry(seq)).is_failure

    attacker = client("dev-1", client_id=stolen_id, session_expiry_s=SESSION_S)
    assert attacker.connect() == 0
    assert attacker.session_present is False, "the gateway's session was handed over"
    assert not attacker.publish("estate/e1/dev-1/telemetry", telemetry(4)).is_failure
    assert attacker.drained() == [], "the gateway's queued messages reached the attacker"

    back = client("gateway", client_id="gongzhi-gateway", session_expiry_s=SESSION_S)
    assert back.connect() == 0 and back.session_present is True
    assert topics_and_seqs(back, 4) == [("estate/e1/dev-2/telemetry", 1),
                                        ("estate/e1/dev-2/telemetry", 2),
                                        ("estate/e1/dev-2/telemetry", 3),
                                        ("estate/e1/dev-1/telemetry", 4)]

    # Connected now: the attacker connecting again under the stolen id pushes nobody off.
    again = client("dev-1", client_id=stolen_id)
    assert again.connect() == 0
    assert not victim.publish("estate/e1/dev-2/telemetry", telemetry(5)).is_failure
    assert topics_and_seqs(back, 1) == [("estate/e1/dev-2/telemetry", 5)]
    assert not back.disconnected.is_set()


def test_a_device_cannot_push_another_off_to_fire_its_will(client: ClientFactory) -> None:
    gateway = client("gateway")
    assert gateway.connect() == 0
    gateway.subscribe("estate/#")
    victim = client("dev-2", client_id="dev-2",
                    will=("estate/e1/dev-2/status", b"offline", False))
    assert victim.connect() == 0

    for protocol in (MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311):
        assert client("dev-1", client_id="dev-2", protocol=protocol).connect() == 0

    assert not victim.publish("estate/e1/dev-2/telemetry", telemetry(1)).is_failure
    # A will fired by a takeover would have been routed before the victim's message.
    assert topics_and_seqs(gateway, 1) == [("estate/e1/dev-2/telemetry", 1)]
    assert not victim.disconnected.is_set()


def test_two_gateway_replicas_need_two_users(client: ClientFactory) -> None:
    """Documented consequence: one user is one session, so a second connection of the same
    user replaces the first, whatever client ids they send."""
    first = client("gateway", client_id="gongzhi-gateway-p0")
    second = client("gateway", client_id="gongzhi-gateway-p1")
    assert first.connect() == 0 and second.connect() == 0
    assert first.disconnected.wait(WAIT_S)
    other = client("gateway-b")
    assert other.connect() == 0
    assert not other.publish("gongzhi/gateway/b/status", "online").is_failure
    assert not second.disconnected.is_set()


@pytest.mark.parametrize("protocol", [MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311])
def test_a_device_cannot_retain(client: ClientFactory, protocol: MQTTProtocolVersion) -> None:
    """A retained event would reach every later subscriber, after the device is revoked too,
    and sit in the broker's memory and database: the broker closes the connection instead."""
    gateway = client("gateway")
    assert gateway.connect() == 0
    gateway.subscribe("estate/#")
    device = client("dev-3", protocol=protocol)
    assert device.connect() == 0
    device.publish_unacknowledged("estate/e2/dev-3/event",
                                  json.dumps({"event": "arc_fault"}).encode(), retain=True)
    assert device.disconnected.wait(WAIT_S), "the retained publish was taken"
    if protocol is MQTTProtocolVersion.MQTTv5:
        assert device.disconnect_reason is not None
        assert device.disconnect_reason.value == RETAIN_NOT_SUPPORTED

    other = client("dev-2")
    assert other.connect() == 0
    assert not other.publish("estate/e1/dev-2/telemetry", telemetry(1)).is_failure
    assert topics_and_seqs(gateway, 1) == [("estate/e1/dev-2/telemetry", 1)]

    # Nothing was stored for a later subscriber either.
    fresh = client("gateway-b")
    assert fresh.connect() == 0
    fresh.subscribe("estate/#")
    assert not other.publish("estate/e1/dev-2/telemetry", telemetry(2)).is_failure
    assert topics_and_seqs(fresh, 1) == [("estate/e1/dev-2/telemetry", 2)]


def test_a_retained_last_will_is_refused_at_connect(client: ClientFactory) -> None:
    device = client("dev-1", will=("estate/e1/dev-1/status", b"offline", True))
    rc = device.connect()
    assert rc is not None and rc.value == RETAIN_NOT_SUPPORTED, rc
    plain = client("dev-1", will=("estate/e1/dev-1/status", b"offline", False))
    assert plain.connect() == 0
