"""An MQTT source's subscriber runs in a process of its own, on a real Mosquitto: killed, it is
started again on the same persistent session, which gives back what it had taken and the
gateway had not committed; an acknowledgement of a message the dead subscriber took is never
sent to the new one; what the gateway committed is not delivered again; and the subscriber
ends with its owner, however the owner ends."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sources_support import SIMULATED_CHIRPSTACK, SMOKE_EUI, v4_topic, v4_up

from gongzhi.core.settings import MqttTarget
from gongzhi.gateway.ingest_queue import IngestQueue
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.sources.chirpstack import ChirpStackOptions, ChirpStackSource
from tests.conftest import Broker
from tests.gateway.gateway_support import Publisher, wait_until
from tests.sources.child_support import ends_with_its_owner
from tests.sources.push_system import source_context

pytestmark = pytest.mark.integration


def _source(tmp: Path, port: int, queue: IngestQueue) -> ChirpStackSource:
    options = yaml.safe_load(SIMULATED_CHIRPSTACK.read_text())["sources"][0]["options"]
    context = replace(source_context("lorawan", queue, tmp),
                      mqtt=MqttTarget(host="127.0.0.1", port=port))
    return ChirpStackSource(context, ChirpStackOptions.model_validate(options))


def _taken(queue: IngestQueue, count: int, timeout_s: float = 15.0) -> list[RawMessage]:
    out: list[RawMessage] = []
    while len(out) < count:
        batch = queue.take(count - len(out), timeout_s=timeout_s)
        if not batch:
            break
        out += batch
    return out


@pytest.fixture
def publisher(broker: Broker) -> Iterator[Publisher]:
    client = Publisher(broker.port, client_id="chirpstack-server")
    yield client
    client.close()


def test_a_subscriber_killed_is_started_again_on_its_session(
        tmp_path: Path, broker: Broker, publisher: Publisher) -> None:
    queue = IngestQueue()
    source = _source(tmp_path, broker.port, queue)
    source.start()
    try:
        assert source.wait_connected(15) and source.health().up
        first = v4_up(SMOKE_EUI, {"alarm_status": 2}, 1)
        publisher.publish(v4_topic(SMOKE_EUI), first)
        (taken,) = _taken(queue, 1)
        assert taken.source == "lorawan" and taken.qos == 1
        pid = source.subscriber_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # before the gateway committed the message
        wait_until(lambda: not source.health().up, what="the source reported down")
        wait_until(lambda: source.health().up and source.subscriber_pid not in (None, pid),
                   what="the subscriber started again and connected")
        (again,) = _taken(queue, 1)  # the session gives back what was not acknowledged
        assert again.payload == taken.payload and again.generation != taken.generation
        # Committed, but taken by the dead subscriber: its packet id (very likely the one the
        # message came again with) must not acknowledge the message now held.
        source.ack([taken])
        publisher.publish(v4_topic(SMOKE_EUI), v4_up(SMOKE_EUI, {"alarm_status": 0}, 2))
        (later,) = _taken(queue, 1)
        source.ack([later])
    finally:
        source.close()
    # Started again, the session gives back only the message never acknowledged.
    restarted = _source(tmp_path, broker.port, queue)
    restarted.start()
    try:
        assert restarted.wait_connected(15)
        (held,) = _taken(queue, 1)
        assert held.payload == taken.payload
        restarted.ack([held])
        assert _taken(queue, 1, timeout_s=1.0) == []
    finally:
        restarted.close()


OWNER = """
import sys, time
from pathlib import Path
from gongzhi.gateway.ingest_queue import IngestQueue
from tests.sources.test_sources_mqtt_front import _source
source = _source(Path(sys.argv[1]), int(sys.argv[2]), IngestQueue())
source.start()
print(source.subscriber_pid, flush=True)
time.sleep(600)
"""


def test_the_subscriber_ends_with_its_owner_however_it_ends(tmp_path: Path,
                                                          broker: Broker) -> None:
    ends_with_its_owner(OWNER, str(tmp_path), str(broker.port))
