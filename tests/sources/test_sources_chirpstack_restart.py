"""ChirpStack delivers an uplink again after the gateway restarted (its broker session at QoS 1
redelivers what was taken but not yet acknowledged; a network server may publish it again):
the uplink is stored once and its smoke alarm raised once across the restart, on a real
Mosquitto. The source's memory of uplinks does not outlive the process; as for our own
contract's (device, seq), the stores' keys (telemetry by device and time, alarms by their
stable id) are what holds across a restart (docs/devices.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sources_support import (
    SMOKE_EUI,
    WATER_EUI,
    chirpstack_sources,
    now_ms,
    v3_topic,
    v3_up,
    v4_topic,
    v4_up,
)

from gongzhi.gateway.service import GatewayService
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.conftest import Broker
from tests.gateway.gateway_support import AlarmPeer, Publisher, wait_until


def _rows(gw: GatewayService, device_id: str) -> int:
    """Telemetry rows of a device in the embedded store, every day table."""
    with sqlite3.connect(telemetry_db_path(gw.settings)) as db:
        tables = [t for (t,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'points_%'")]
        return sum(db.execute(f"SELECT count(*) FROM {t} WHERE device_id = ?",
                              (device_id,)).fetchone()[0] for t in tables)


def test_an_uplink_delivered_again_after_a_restart_is_stored_once(
        source_gateway: Callable[..., GatewayService], lora_broker: Broker,
        lora_publisher: Publisher, peer: AlarmPeer) -> None:
    sources = chirpstack_sources(lora_broker.url)
    t = now_ms() - 60_000
    smoke = (v4_topic(SMOKE_EUI), v4_up(SMOKE_EUI, {"temperature": 21.0, "alarm": {"status": 2}},
                                        5, ts_ms=t))
    water = (v3_topic(WATER_EUI), v3_up(WATER_EUI, {"pressure": 3.2}, 9, ts_ms=t))
    gw = source_gateway(sources)
    for topic, body in (smoke, water):
        lora_publisher.publish(topic, body)
    wait_until(lambda: ("s1", "smoke_alarm") in peer.kinds(), what="the smoke alarm")
    wait_until(lambda: _rows(gw, "w1") == 1 and _rows(gw, "s1") == 1, what="both stored")
    gw.stop()

    again = source_gateway(sources)
    for topic, body in (smoke, water):
        lora_publisher.publish(topic, body)
    later = v4_up(SMOKE_EUI, {"temperature": 22.0}, 6, ts_ms=t + 1000)
    lora_publisher.publish(v4_topic(SMOKE_EUI), later)
    assert again.sources is not None
    metrics = again.sources.metrics
    wait_until(lambda: metrics.value(metrics.received, "lorawan") == 3, what="all taken")
    # The later uplink, published last on the same session, stored: the repeats went before.
    wait_until(lambda: _rows(again, "s1") == 2, what="the later uplink stored")
    wait_until(lambda: again.outbox.counts()["pending"] == 0, what="the outbox drained")
    assert _rows(again, "s1") == 2 and _rows(again, "w1") == 1  # the repeats: no new rows
    with EmbeddedReader(telemetry_db_path(again.settings)) as reader:
        assert reader.series("s1", "temp_c", t - 1, t + 2000) == [(t, 21.0), (t + 1000, 22.0)]
        assert [(ts, round(v, 6)) for ts, v in reader.series("w1", "pressure_mpa", t - 1,
                                                             t + 1)] == [(t, 0.32)]
    raised = [d for d in peer.deliveries if d["device_id"] == "s1"
              and d["kind"] == "smoke_alarm" and d["state"] == "raise"]
    assert len(raised) == 1, raised
