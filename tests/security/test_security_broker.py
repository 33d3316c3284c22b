"""The deployment broker (deploy/mosquitto/mosquitto.conf, run for real) with the users and ACL
of `gongzhi devices provision`: who may connect, publish and read what.

Negative checks never wait for a message that should not come: each ends on a QoS 1 PUBACK or a
message on the same connection, which the broker sends only after anything routed before it.
"""

from __future__ import annotations

import json

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from security_mqtt import WAIT_S, SecureBroker
from security_setup import ClientFactory, Provisioned

pytestmark = pytest.mark.integration
BOTH_ACL_STYLES = pytest.mark.parametrize("acl_style", ["per-device", "pattern"])

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


def accepted(rc: ReasonCode) -> bool:
    """PUBACK success; 0x10 'no matching subscribers' is a success too."""
    return not rc.is_failure


def telemetry(seq: int) -> str:
    return json.dumps({"ts": 1_767_225_600_000 + seq, "seq": seq, "values": {"smoke_db_m": 0.01}})


def test_a_device_publishes_under_its_own_topic_and_the_gateway_receives_it(
        client: ClientFactory) -> None:
    gateway, device = client("gateway"), client("dev-1")
    assert gateway.connect() == 0 and device.connect() == 0
    assert not gateway.subscribe("estate/#")[0].is_failure

    assert accepted(device.publish("estate/e1/dev-1/telemetry", telemetry(1)))
    got = gateway.next_message()
    assert (got.topic, json.loads(got.payload)["seq"]) == ("estate/e1/dev-1/telemetry", 1)


@BOTH_ACL_STYLES
@pytest.mark.parametrize("topic", [
    "estate/e1/dev-2/telemetry",  # another device of the same estate
    "estate/e2/dev-1/telemetry",  # its own id under another estate
    "estate/e1/dev-1-spoof/telemetry",
    "gongzhi/gateway/status",
])
def test_a_device_cannot_publish_as_another(client: ClientFactory, topic: str,
                                            acl_style: str) -> None:
    gateway, device = client("gateway"), client("dev-1")
    assert gateway.connect() == 0 and device.connect() == 0
    gateway.subscribe("estate/#")
    gateway.subscribe("gongzhi/#")

    forged = device.publish(topic, telemetry(1))
    if acl_style == "pattern" and topic == "estate/e2/dev-1/telemetry":
        # The pattern does not bind the estate: the broker passes it and the gateway refuses
        # it (estate_mismatch against the registry).
        assert accepted(forged)
        assert gateway.next_message().topic == topic
    else:
        assert forged.value == NOT_AUTHORIZED, forged
    assert accepted(device.publish("estate/e1/dev-1/telemetry", telemetry(2)))
    # The broker forwards one client's messages in order: the forged one would come first.
    assert gateway.next_message().topic == "estate/e1/dev-1/telemetry"
    assert gateway.drained() == []


def test_a_device_on_mqtt_3_cannot_publish_as_another_either(client: ClientFactory) -> None:
    """MQTT 3.1.1 has no reason code in PUBACK: the broker acknowledges and drops."""
    gateway = client("gateway")
    device = client("dev-1", protocol=MQTTProtocolVersion.MQTTv311)
    assert gateway.connect() == 0 and device.connect() == 0
    gateway.subscribe("estate/#")
    device.publish("estate/e1/dev-2/telemetry", telemetry(1))
    device.publish("estate/e1/dev-1/telemetry", telemetry(2))
    assert gateway.next_message().topic == "estate/e1/dev-1/telemetry"
    assert gateway.drained() == []


@BOTH_ACL_STYLES
@pytest.mark.parametrize("pattern", ["estate/#", "estate/e1/dev-2/#", "#", "$share/g/estate/#"])
def test_a_device_cannot_read_other_devices_data(client: ClientFactory, pattern: str) -> None:
    spy, victim, gateway = client("dev-1"), client("dev-2"), client("gateway")
    for c in (spy, victim, gateway):
        assert c.connect() == 0
    gateway.subscribe("estate/e1/dev-2/#")
    # Mosquitto 2.0's acl_file does not check SUBSCRIBE (it checks read access on delivery), so
    # the SUBACK may grant; a broker that checks answers with a failure. Either way: no data.
    suback = spy.subscribe(pattern)[0]
    assert suback.is_failure or suback.value in (0, 1), suback

    assert accepted(victim.publish("estate/e1/dev-2/telemetry", telemetry(1)))
    assert gateway.next_message().topic == "estate/e1/dev-2/telemetry"  # it was routed...
    # ...and anything routed to the spy would precede the PUBACK of its own publish.
    assert accepted(spy.publish("estate/e1/dev-1/telemetry", telemetry(2)))
    assert spy.drained() == []


def test_a_wrong_password_is_refused(client: ClientFactory) -> None:
    for protocol in (MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311):
        probe = client("dev-1", "not-the-password", protocol=protocol)
        rc = probe.connect()
        assert rc is not None and rc.is_failure, rc
        if protocol is MQTTProtocolVersion.MQTTv5:
            assert rc.value in (NOT_AUTHORIZED, BAD_CREDENTIALS), rc


def test_another_devices_password_is_refused(client: ClientFactory,
                                             provisioned: Provisioned) -> None:
    rc = client("dev-1", provisioned.passwords["dev-2"]).connect()
    assert rc is not None and rc.is_failure, rc


def test_anonymous_and_unknown_clients_are_refused(client: ClientFactory) -> None:
    anonymous = client(None).connect()
    assert anonymous is not None and anonymous.value == NOT_AUTHORIZED, anonymous
    unknown = client("dev-99", "whatever").connect()
    assert unknown is not None and unknown.is_failure, unknown


@BOTH_ACL_STYLES
def test_the_gateway_subscribes_directly_and_through_a_shared_subscription(
        client: ClientFactory) -> None:
    # Two replicas: each needs its own user, one session per user.
    direct, shared, device = client("gateway"), client("gateway-b"), client("dev-3")
    for c in (direct, shared, device):
        assert c.connect() == 0
    assert not direct.subscribe("estate/#")[0].is_failure
    assert not shared.subscribe("$share/gongzhi/estate/#")[0].is_failure
    device.publish("estate/e2/dev-3/event", json.dumps({"event": "arc_fault"}))
    assert direct.next_message().topic == "estate/e2/dev-3/event"
    assert shared.next_message().topic == "estate/e2/dev-3/event"


@BOTH_ACL_STYLES
def test_the_gateway_publishes_only_its_status(client: ClientFactory) -> None:
    gateway = client("gateway")
    assert gateway.connect() == 0
    gateway.subscribe("estate/#")
    assert accepted(gateway.publish("gongzhi/gateway/status", "online"))
    forged = gateway.publish("estate/e1/dev-1/telemetry", telemetry(1))
    assert forged.value == NOT_AUTHORIZED
    assert gateway.drained() == []  # its own forged message would have come back before


@BOTH_ACL_STYLES
def test_a_forwarder_publishes_for_any_device_and_reads_nothing(client: ClientFactory) -> None:
    simulator, gateway = client("simulator"), client("gateway")
    assert simulator.connect() == 0 and gateway.connect() == 0
    gateway.subscribe("estate/#")
    simulator.subscribe("estate/#")
    for n, topic in enumerate(("estate/e1/dev-1/telemetry", "estate/e2/dev-3/telemetry")):
        assert accepted(simulator.publish(topic, telemetry(n)))
        assert gateway.next_message().topic == topic
    assert simulator.drained() == []


def test_rotation_and_revocation_take_effect_on_reload(
        client: ClientFactory, provisioned: Provisioned, secure_broker: SecureBroker) -> None:
    """The documented procedure: provision --rotate (or remove the device from the registry and
    provision), then SIGHUP the broker. Mosquitto re-checks connected clients on reload: the
    rotated and the revoked lose their connections, the others keep theirs."""
    old = provisioned.passwords
    sessions = {name: client(name) for name in ("dev-1", "dev-2", "dev-3", "gateway")}
    for probe in sessions.values():
        assert probe.connect() == 0
    provisioned.registry.write_text(
        "\n".join(line for line in provisioned.registry.read_text().splitlines()
                  if not line.startswith("dev-3,")) + "\n")
    assert provisioned.run("--rotate", "dev-1") == 0
    new = provisioned.passwords
    assert new["dev-1"] != old["dev-1"] and new["dev-2"] == old["dev-2"]
    assert "dev-3" not in new

    secure_broker.reload()
    assert sessions["dev-1"].disconnected.wait(WAIT_S), "rotated: its session must end"
    assert sessions["dev-3"].disconnected.wait(WAIT_S), "revoked: its session must end"
    # Untouched users go on as before: a PUBACK comes back on their old connections.
    assert accepted(sessions["dev-2"].publish("estate/e1/dev-2/telemetry", telemetry(1)))
    assert accepted(sessions["gateway"].publish("gongzhi/gateway/status", "online"))
    assert not (sessions["dev-2"].disconnected.is_set()
                or sessions["gateway"].disconnected.is_set())

    for username, password in (("dev-1", old["dev-1"]), ("dev-3", old["dev-3"])):
        refused = client(username, password).connect()
        assert refused is not None and refused.is_failure, (username, refused)
    assert client("dev-1", new["dev-1"]).connect() == 0
