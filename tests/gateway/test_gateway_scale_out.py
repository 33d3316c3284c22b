"""Two gateway replicas on one broker: with a static partition each device's stream lands on
exactly one replica, and together they lose nothing and double nothing. With a plain shared
subscription (Mosquitto spreads round robin) nothing is lost or doubled either."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_support import AlarmPeer, Publisher, wait_until, write_test_registry

from gongzhi.core.settings import load_settings
from gongzhi.gateway.service import GatewayService, share_group

pytestmark = pytest.mark.integration

ESTATES = [f"estate-{n}" for n in range(6)]
DEVICES = [(f"{e}-w{k}", "water_pressure", e, f"b{k % 2}", False)
           for e in ESTATES for k in range(4)]


def publish_stream(publisher: Publisher, t0: int) -> tuple[int, set[tuple[str, int]]]:
    """Telemetry from every device plus a tamper event each; returns (messages, events)."""
    events: set[tuple[str, int]] = set()
    count = 0
    for n in range(10):
        for device, _, estate, _, _ in DEVICES:
            topic = f"estate/{estate}/{device}"
            publisher.publish(f"{topic}/telemetry",
                              {"ts": t0 + n, "seq": n, "values": {"pressure_mpa": 0.3}})
            count += 1
            if n == 5:
                publisher.publish(f"{topic}/event", {"ts": t0 + n, "seq": 100 + n,
                                                     "event": "tamper"})
                events.add((device, t0 + n))
                count += 1
    return count, events


def processed(replicas: list[GatewayService]) -> float:
    return sum(r.metrics.total("messages_processed_total") for r in replicas)


@pytest.fixture
def replicas(start_gateway: Callable[..., GatewayService], registry_file: Path
             ) -> Callable[..., list[GatewayService]]:
    write_test_registry(registry_file, DEVICES)

    def start(*settings: dict[str, Any]) -> list[GatewayService]:
        return [start_gateway(**s) for s in settings]

    return start


def test_static_partition_puts_each_device_on_one_replica(
        replicas: Callable[..., list[GatewayService]], publisher: Publisher,
        peer: AlarmPeer) -> None:
    shares = {zlib.crc32(e.encode()) % 2 for e in ESTATES}
    assert shares == {0, 1}, "the test needs estates in both shares"
    gws = replicas({"gateway_partition": "0/2"}, {"gateway_partition": "1/2"})
    assert [g.gateway_id for g in gws] == ["gateway-p0", "gateway-p1"]
    total, events = publish_stream(publisher, time.time_ns() // 1_000_000 - 60_000)

    def caught_up(g: GatewayService) -> bool:
        """Every message seen: its own share processed, the other's skipped. Each replica
        takes the whole stream at its own pace, so one may still be skipping after the two
        have processed everything between them."""
        return g.metrics.total("messages_skipped_total") + g.metrics.total(
            "messages_processed_total") == total

    wait_until(lambda: all(caught_up(g) for g in gws), what="both replicas caught up")
    assert processed(gws) == total
    owned = [g.states.device_ids() for g in gws]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == {d[0] for d in DEVICES}
    for g, devices in zip(gws, owned, strict=True):
        assert all(g.partition.owns(d.split("-w")[0]) for d in devices)
    wait_until(lambda: len(peer.deliveries) == len(events), what="every alarm")
    assert {(a["device_id"], a["ts_ms"]) for a in peer.deliveries} == events


def test_shared_subscription_spreads_without_loss_or_doubling(
        replicas: Callable[..., list[GatewayService]], publisher: Publisher,
        peer: AlarmPeer) -> None:
    gws = replicas({"gateway_group": "g", "gateway_id": "a"},
                   {"gateway_group": "g", "gateway_id": "b"})
    total, events = publish_stream(publisher, time.time_ns() // 1_000_000 - 60_000)
    wait_until(lambda: processed(gws) == total, what="both replicas done")
    counts = [g.metrics.total("messages_received_total") for g in gws]
    assert sum(counts) == total and min(counts) > 0
    wait_until(lambda: len(peer.deliveries) == len(events), what="every alarm")
    assert {(a["device_id"], a["ts_ms"]) for a in peer.deliveries} == events


def test_share_group_names() -> None:
    def group(**values: Any) -> str | None:
        return share_group(load_settings(environ={}, **values))

    assert group() is None
    assert group(gateway_group="gw") == "gw"
    assert group(gateway_group="gw", gateway_partition="1/3") == "gw-1of3"
