"""ChirpStack (LoRaWAN) over MQTT, on a broker of its own: v3 and v4 uplinks become telemetry
and alarms through the gateway's one pipeline; repeats are stored once; unknown devices, and
uplinks nothing maps, are dead letters with their reason; the source's figures and health."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest
from sources_support import (
    SMOKE_EUI,
    UNKNOWN_EUI,
    WATER_EUI,
    chirpstack_sources,
    dead_letters,
    iso,
    now_ms,
    v3_topic,
    v3_up,
    v4_topic,
    v4_up,
)

from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.sources.chirpstack import dev_eui_hex
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.conftest import Broker
from tests.gateway.gateway_support import AlarmPeer, Publisher, wait_until


def test_v4_and_v3_uplinks_become_telemetry_and_a_smoke_alarm(
        source_gateway: Callable[..., GatewayService], lora_broker: Broker,
        lora_publisher: Publisher, peer: AlarmPeer) -> None:
    gw = source_gateway(chirpstack_sources(lora_broker.url))
    t = now_ms() - 60_000
    # v4, decoded by the profile "Smoke detector": obscuration in %/ft converted to dB/m.
    lora_publisher.publish(v4_topic(SMOKE_EUI), v4_up(
        SMOKE_EUI, {"smokeObscuration": 1.0, "temperature": 24.5, "battery": 87,
                    "alarm": {"status": 0}}, 10, ts_ms=t))
    # v3 (older topic form, base64 devEUI, objectJSON text); pressure in bar -> MPa.
    lora_publisher.publish(v3_topic(WATER_EUI), v3_up(WATER_EUI, {"pressure": 3.2}, 7,
                                                      ts_ms=t + 1000))
    lora_publisher.publish(v3_topic(WATER_EUI, "event/up"),
                           v3_up(WATER_EUI, {"pressure": 3.1}, 8, ts_ms=t + 2000))
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        wait_until(lambda: len(reader.series("w1", "pressure_mpa", t, t + 10_000)) == 2,
                   what="the v3 uplinks stored")
        assert [round(v, 6) for _, v in reader.series("w1", "pressure_mpa", t, t + 10_000)] \
            == [0.32, 0.31]
        wait_until(lambda: reader.latest("s1", "temp_c") is not None, what="the v4 uplink")
        smoke = reader.series("s1", "smoke_db_m", t - 1, t + 1)
        assert len(smoke) == 1 and abs(smoke[0][1] - 0.1432) < 0.001  # 1 %/ft in dB/m
        assert reader.series("s1", "battery_pct", t - 1, t + 1) == [(t, 87.0)]
    lora_publisher.publish(v4_topic(SMOKE_EUI), v4_up(
        SMOKE_EUI, {"smokeObscuration": 4.0, "alarm": {"status": 2}}, 11))
    wait_until(lambda: ("s1", "smoke_alarm") in peer.kinds(), what="the smoke alarm")
    assert gw.sources is not None
    metrics = gw.sources.metrics
    assert metrics.value(metrics.accepted, "lorawan") == 4


def test_the_same_uplink_twice_is_stored_once(
        source_gateway: Callable[..., GatewayService], lora_broker: Broker,
        lora_publisher: Publisher) -> None:
    gw = source_gateway(chirpstack_sources(lora_broker.url))
    t = now_ms() - 60_000
    first = v4_up(SMOKE_EUI, {"temperature": 21.0}, 5, ts_ms=t)
    second = v4_up(SMOKE_EUI, {"temperature": 22.0}, 6, ts_ms=t + 1000)
    again = v3_up(WATER_EUI, {"pressure": 3.0}, 9, ts_ms=t)
    for topic, body in ((v4_topic(SMOKE_EUI), first), (v4_topic(SMOKE_EUI), first),
                        (v3_topic(WATER_EUI), again), (v4_topic(SMOKE_EUI), second),
                        (v3_topic(WATER_EUI), again), (v4_topic(SMOKE_EUI), first)):
        lora_publisher.publish(topic, body)
    assert gw.sources is not None
    metrics = gw.sources.metrics
    wait_until(lambda: metrics.value(metrics.received, "lorawan") == 6, what="all taken")
    wait_until(lambda: gw.metrics.total("messages_processed_total") >= 3, what="stored")
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        assert reader.series("s1", "temp_c", t - 1, t + 5000) == [(t, 21.0), (t + 1000, 22.0)]
        assert len(reader.series("w1", "pressure_mpa", t - 1, t + 1)) == 1
    assert metrics.value(metrics.duplicates, "lorawan") == 3


def test_unknown_devices_and_unmapped_uplinks_are_dead_letters_with_reasons(
        source_gateway: Callable[..., GatewayService], lora_broker: Broker,
        lora_publisher: Publisher) -> None:
    gw = source_gateway(chirpstack_sources(lora_broker.url))
    lora_publisher.publish(v4_topic(UNKNOWN_EUI), v4_up(UNKNOWN_EUI, {"temperature": 20}, 1))
    lora_publisher.publish(v4_topic(SMOKE_EUI), v4_up(SMOKE_EUI, {"rssi_hint": 3}, 2))
    no_codec = v4_up(SMOKE_EUI, {}, 3)
    del no_codec["object"]
    lora_publisher.publish(v4_topic(SMOKE_EUI), no_codec)
    # A value beside a smoke alarm that no smoke detector can measure: the alarm is kept.
    lora_publisher.publish(v4_topic(SMOKE_EUI), v4_up(
        SMOKE_EUI, {"temperature": 900, "alarm": {"status": 2}}, 4))
    lora_publisher.publish(v4_topic(SMOKE_EUI), b"{not json")
    lora_publisher.publish(v4_topic(SMOKE_EUI), v4_up(SMOKE_EUI, {"pad": "x" * 70_000}, 5))
    wait_until(lambda: gw.metrics.total("messages_rejected_total") == 6, what="6 refusals")
    unknown = dead_letters(gw, "unknown_device")
    assert len(unknown) == 1 and UNKNOWN_EUI in str(unknown[0]["detail"])
    assert unknown[0]["topic"] == v4_topic(UNKNOWN_EUI)
    unmapped = dead_letters(gw, "unmapped_field")
    assert len(unmapped) == 2
    assert any("rssi_hint" in str(d["detail"]) for d in unmapped)
    assert any("codec" in str(d["detail"]) for d in unmapped)
    assert len(dead_letters(gw, "out_of_range")) == 1
    assert len(dead_letters(gw, "not_json")) == 1
    assert len(dead_letters(gw, "payload_too_large")) == 1
    assert gw.sources is not None
    metrics = gw.sources.metrics
    assert metrics.value(metrics.rejected, "lorawan", "unknown_device") == 1
    assert metrics.value(metrics.rejected, "lorawan", "unmapped_field") == 2
    assert metrics.value(metrics.accepted, "lorawan") == 1  # the alarm's uplink


def test_status_battery_and_join(source_gateway: Callable[..., GatewayService],
                                 lora_broker: Broker, lora_publisher: Publisher) -> None:
    gw = source_gateway(chirpstack_sources(lora_broker.url))
    info = v4_up(SMOKE_EUI, {}, 0)["deviceInfo"]
    t = now_ms() - 5000
    lora_publisher.publish(v4_topic(SMOKE_EUI, "status"), {
        "deduplicationId": "9d5e3c62-3f7e-4f5b-9a26-3f0f8e8c3a11", "time": iso(t),
        "deviceInfo": info, "margin": 6, "externalPowerSource": False,
        "batteryLevelUnavailable": False, "batteryLevel": 75.5})
    lora_publisher.publish(v4_topic(WATER_EUI, "status"), {
        "deviceInfo": {**info, "devEui": WATER_EUI}, "margin": 6, "batteryLevel": 60})
    lora_publisher.publish(v4_topic(SMOKE_EUI, "join"), {
        "deduplicationId": "c9dbe358-2578-4fb7-b295-66b44edc45a6", "deviceInfo": info,
        "devAddr": "00189440"})
    lora_publisher.publish(v4_topic(SMOKE_EUI, "txack"), {"deviceInfo": info})
    assert gw.sources is not None
    metrics = gw.sources.metrics
    wait_until(lambda: metrics.value(metrics.received, "lorawan") == 4, what="all taken")
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        wait_until(lambda: reader.latest("s1", "battery_pct") is not None, what="battery")
        latest = reader.latest("s1", "battery_pct")
        assert latest == (t, 75.5)
    assert metrics.value(metrics.ignored, "lorawan", "battery_not_in_catalogue") == 1
    assert metrics.value(metrics.ignored, "lorawan", "event_txack") == 1


def test_metrics_and_readiness_name_the_source(
        source_gateway: Callable[..., GatewayService], lora_broker: Broker,
        lora_publisher: Publisher) -> None:
    gw = source_gateway(chirpstack_sources(lora_broker.url))
    assert gw.http is not None
    base = f"http://127.0.0.1:{gw.http.port}"
    lora_publisher.publish(v4_topic(UNKNOWN_EUI), v4_up(UNKNOWN_EUI, {"temperature": 20}, 1))
    lora_publisher.publish(v4_topic(SMOKE_EUI), v4_up(SMOKE_EUI, {"temperature": 20}, 2))
    wait_until(lambda: 'gongzhi_gateway_source_messages_accepted_total{source="lorawan"} 1.0'
               in httpx.get(f"{base}/metrics").text, what="the accepted counter")
    text = httpx.get(f"{base}/metrics").text
    assert 'gongzhi_gateway_source_messages_received_total{source="lorawan"} 2.0' in text
    assert ('gongzhi_gateway_source_messages_rejected_total{reason="unknown_device",'
            'source="lorawan"} 1.0') in text
    assert 'gongzhi_gateway_source_up{source="lorawan"} 1.0' in text
    assert 'gongzhi_gateway_source_last_message_age_seconds{source="lorawan"}' in text
    assert httpx.get(f"{base}/readyz").status_code == 200
    lora_broker.stop()
    wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 503, what="not ready")
    health = httpx.get(f"{base}/healthz").json()
    assert any("source lorawan is down" in p for p in health["problems"])
    assert health["sources"]["lorawan"]["up"] is False
    lora_broker.start()
    wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, timeout_s=40,
               what="ready again after the reconnection")


def test_dev_euis_in_every_form_chirpstack_writes_them() -> None:
    raw = bytes.fromhex(SMOKE_EUI)
    assert dev_eui_hex(SMOKE_EUI.upper()) == SMOKE_EUI  # v4 and the older v3 form: hex
    assert dev_eui_hex(base64.b64encode(raw).decode()) == SMOKE_EUI  # v3 protobuf JSON
    for bad in ("a84041000181c2", "qEBBAAGBwg==", "not an eui"):
        with pytest.raises(RejectedMessage) as caught:
            dev_eui_hex(bad)
        assert caught.value.reason == "bad_shape"
