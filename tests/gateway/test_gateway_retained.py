"""Retained messages are a replay of what a device once published (perhaps a device revoked
since), not device data: the gateway never takes one. The shipped brokers refuse them; these
tests use a broker that still keeps them, as one upgraded from an older configuration would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from gateway_support import T0, Publisher, wait_until

from gongzhi.core.clock import SystemClock
from gongzhi.core.settings import MqttTarget
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.metrics import GatewayMetrics
from gongzhi.gateway.mqtt import MqttIngest
from gongzhi.gateway.service import GatewayService
from tests.conftest import Broker, make_broker

EVENT = "estate/e1/s1/event"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker that keeps retained messages (a later line of the file wins)."""
    b = make_broker(tmp_path, "retain_available true\n")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.mark.integration
def test_a_retained_event_never_reaches_a_fresh_gateway(
        start_gateway: Callable[..., GatewayService], publisher: Publisher) -> None:
    publisher.publish(EVENT, {"ts": T0, "seq": 1, "event": "arc_fault"}, retain=True)
    gw = start_gateway()
    publisher.publish(EVENT, {"ts": T0 + 1, "seq": 2, "event": "low_battery"})
    # A retained message is sent on subscribing, before anything live.
    wait_until(lambda: gw.metrics.total("messages_processed_total") >= 1, what="the live event")
    assert gw.metrics.total("messages_received_total") == 1
    assert gw.metrics.total("messages_rejected_total") == 0


class AckRecorder:
    """Stands in for paho's client in a direct call of the message callback."""

    def __init__(self) -> None:
        self.acks: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append((mid, qos))


def message(mid: int, retain: bool) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(mid, EVENT.encode())
    msg.payload, msg.qos, msg.retain = b'{"event": "arc_fault"}', 1, retain
    return msg


def test_a_retained_message_that_comes_anyway_is_acknowledged_and_counted() -> None:
    """For a broker that ignores the subscription's "send no retained messages"."""
    metrics = GatewayMetrics()
    taken = IngestQueue(10)
    ingest = MqttIngest(MqttTarget(host="127.0.0.1", port=1), taken, SystemClock(), metrics,
                        client_id="gongzhi-gateway", gateway_id="gateway")
    client: Any = AckRecorder()
    ingest._on_message(client, None, message(7, retain=True))
    ingest._on_message(client, None, message(8, retain=False))
    assert client.acks == [(7, 1)]  # the live one waits for the worker
    assert metrics.total("messages_retained_ignored_total") == 1
    assert [m.mid for m in taken.take(10, 0.1)] == [8]
