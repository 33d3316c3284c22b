"""ChirpStack uplinks through the real system (a private Mosquitto with persistence, the
`gongzhi gateway` and `gongzhi platform` processes): v3 and v4 smoke alarms become tickets, and
a gateway killed with SIGKILL in the middle of a ChirpStack stream loses nothing the broker
accepted: every alarm is one ticket and every reading is stored once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sources_support import SIMULATED_CHIRPSTACK

from gongzhi.devices.registry import write_registry
from gongzhi.simulators.outgoing import Message as SimMessage
from gongzhi.simulators.protocols.chirpstack import ChirpStackEncoder, dev_eui
from tests.chaos.chaos_support import (
    DevicePublisher,
    Message,
    Tally,
    chaos_registry,
    counter,
    gateway_metric,
    now_ms,
    persistent_broker,
    planned_stream,
    running,
    settle,
    start_gateway,
    start_platform,
    start_system,
)
from tests.conftest import Broker
from tests.e2e.harness import System, wait_until

pytestmark = pytest.mark.integration

ALARMS = 40
TELEMETRY = 2000
Reporter = Callable[[str, object], None]


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto keeping sessions and their queued messages across its own restarts."""
    with persistent_broker(tmp_path) as broker:
        yield broker


def lorawan_system(root: Path, broker: Broker) -> tuple[System, ChirpStackEncoder]:
    """The chaos estate's devices as LoRaWAN devices behind ChirpStack (on the same broker),
    with the simulator's device profiles and the matching sources file."""
    sysm = start_system(root, broker.url, start=False,
                        gateway_env={"GONGZHI_SOURCES": str(SIMULATED_CHIRPSTACK)})
    records = [replace(r, external_id=dev_eui(r.device_id)) for r in chaos_registry()]
    write_registry(root / "registry.csv", records)
    start_platform(sysm)
    start_gateway(sysm)
    return sysm, ChirpStackEncoder(4, records, 0)


def encode(encoder: ChirpStackEncoder, stream: list[Message]) -> list[Message]:
    out = []
    for m in stream:
        encoded = encoder.message(SimMessage(0, m.topic, m.payload, 1))
        assert encoded is not None
        out.append(Message(encoded.topic, encoded.payload, m.alarm))
    return out


def test_chirpstack_v3_and_v4_smoke_alarms_become_tickets(tmp_path: Path,
                                                          durable_broker: Broker) -> None:
    sysm, v4 = lorawan_system(tmp_path / "sys", durable_broker)
    v3 = ChirpStackEncoder(3, [], 0)
    t = now_ms() - 1000
    alarm = b'{"ts":%d,"seq":5,"event":"smoke_alarm","detail":{}}'
    with running(sysm), DevicePublisher(durable_broker.port) as publisher:
        stream = [Message("estate/chaos/tmp-000/event", alarm % t, True),
                  Message("estate/chaos/tmp-001/event", alarm % t, True)]
        encoded = [encode(v4, stream[:1])[0], encode(v3, stream[1:])[0]]
        assert b'"objectJSON":"{\\"alarm_status\\":2}"' in encoded[1].payload
        publisher.publish(encoded + encoded)  # each delivered twice: one ticket each
        wait_until(lambda: len(sysm.tickets("property_office", kind="smoke_alarm")) == 2, 60,
                   "two smoke-alarm tickets")
        tickets = sysm.tickets("property_office", kind="smoke_alarm")
        assert sorted(t["device_id"] for t in tickets) == ["tmp-000", "tmp-001"]
        assert all(int(t["occurrences"]) == 1 for t in tickets)
        assert gateway_metric(sysm, "source_duplicates_total") == 2


def test_gateway_kill_9_mid_chirpstack_stream_loses_nothing(
        tmp_path: Path, durable_broker: Broker, record_property: Reporter) -> None:
    """Persistent session on the source's broker and acknowledgement after commit: what the
    gateway took but had not committed when it died comes again (and is dropped as a repeat if
    it had been committed); what ChirpStack published while it was down waits at the broker."""
    tally = Tally("gateway_kill_9_chirpstack")
    sysm, encoder = lorawan_system(tmp_path / "sys", durable_broker)
    with running(sysm), DevicePublisher(durable_broker.port) as publisher:
        stream = encode(encoder, planned_stream(ALARMS, TELEMETRY, now_ms() - 1_000))
        publisher.publish_in_background(stream, pace_s=0.05)
        wait_until(lambda: publisher.published_so_far() >= len(stream) // 3, 60,
                   "a third of the stream")
        sysm.services["gateway"].kill()
        tally.extra["killed_after"] = publisher.published_so_far()
        wait_until(lambda: publisher.published_so_far() >= 2 * len(stream) // 3, 60,
                   "two thirds of the stream, the gateway down")
        start_gateway(sysm)
        publisher.join()

        settle(tally, counter(sysm, tally, publisher), timeout_s=90)
        tally.extra["source_duplicates"] = int(gateway_metric(sysm,
                                                              "source_duplicates_total"))
        tally.report(record_property)
    assert tally.alarms_published == ALARMS and tally.telemetry_published == TELEMETRY
    assert tally.tickets == ALARMS and tally.duplicates == 0, tally.line()
    assert tally.dropped == 0 and tally.stored == TELEMETRY, tally.line()
