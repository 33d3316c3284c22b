"""The gateway against a real Mosquitto: refusals of every kind land in dead letters and
counters while the gateway carries on; duplicates are dropped; device states reach the platform;
the registry reloads, keeping the detection state; the gateway announces itself."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from gateway_support import (
    DEVICES,
    AlarmPeer,
    Publisher,
    gateway_settings,
    wait_until,
    write_test_registry,
)
from paho.mqtt.enums import CallbackAPIVersion

from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.service import GatewayService
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path

pytestmark = pytest.mark.integration

W1 = "estate/e1/w1/telemetry"
NOW_ISH = "2099-01-01T00:00:00Z"  # always more than 5 min ahead
BAD_MESSAGES: list[tuple[str, str, Any]] = [
    (Reason.PAYLOAD_TOO_LARGE, W1, b"[" + b"0," * 500_000 + b"0]"),  # 1 MB
    (Reason.BAD_TOPIC, "estate/e1/w1/pictures", {"pressure_mpa": 0.3}),
    (Reason.UNKNOWN_DEVICE, "estate/e1/ghost/telemetry", {"pressure_mpa": 0.3}),
    (Reason.ESTATE_MISMATCH, "estate/e2/w1/telemetry", {"pressure_mpa": 0.3}),
    (Reason.NOT_JSON, W1, b"\x00\x01garbage"),
    (Reason.BAD_SHAPE, W1, {"values": "lots"}),
    (Reason.UNKNOWN_METRIC, W1, {"residual_ma": 5}),
    (Reason.BAD_VALUE, W1, {"pressure_mpa": "high"}),
    (Reason.NON_FINITE, W1, b'{"pressure_mpa": NaN}'),
    (Reason.OUT_OF_RANGE, W1, {"pressure_mpa": -3}),
    (Reason.BAD_UNIT, W1, [{"n": "pressure_mpa", "u": "psi", "v": 40}]),
    (Reason.UNKNOWN_EVENT, "estate/e1/w1/event", {"event": "smoke_alarm"}),
    (Reason.BAD_TIMESTAMP, W1, {"ts": "noon", "pressure_mpa": 0.3}),
    (Reason.FUTURE_TIMESTAMP, W1, {"ts": NOW_ISH, "pressure_mpa": 0.3}),
    (Reason.BAD_SEQ, W1, {"seq": "one", "pressure_mpa": 0.3}),
    (Reason.BAD_STATUS, "estate/e1/w1/status", b"sleepy"),
]


def metrics_text(gw: GatewayService) -> str:
    assert gw.http is not None
    return httpx.get(f"http://127.0.0.1:{gw.http.port}/metrics", timeout=5).text


def test_every_refusal_is_recorded_and_counted_and_the_gateway_carries_on(
        start_gateway: Callable[..., GatewayService], publisher: Publisher,
        peer: AlarmPeer) -> None:
    gw = start_gateway()
    for _, topic, payload in BAD_MESSAGES:
        publisher.publish(topic, payload)
    publisher.publish("estate/e1/s1/event", {"event": "smoke_alarm", "seq": 1})
    wait_until(lambda: ("s1", "smoke_alarm") in peer.kinds(), what="the smoke alarm")
    wait_until(lambda: gw.metrics.total("messages_rejected_total") == len(BAD_MESSAGES),
               what="every refusal")
    assert gw.http is not None
    letters = httpx.get(f"http://127.0.0.1:{gw.http.port}/dead-letters?limit=100").json()
    assert sorted(d["reason"] for d in letters) == sorted(r for r, _, _ in BAD_MESSAGES)
    big = next(d for d in letters if d["reason"] == "payload_too_large")
    assert big["payload_size"] == 1_000_003 and big["truncated"] and len(big["payload"]) == 1024
    text = metrics_text(gw)
    for reason, _, _ in BAD_MESSAGES:
        assert f'gongzhi_gateway_messages_rejected_total{{reason="{reason}"}} 1' in text
    assert "gongzhi_gateway_alarms_outboxed_total 1" in text
    only = httpx.get(f"http://127.0.0.1:{gw.http.port}/dead-letters?reason=not_json").json()
    assert [d["reason"] for d in only] == ["not_json"]
    bad_limit = httpx.get(f"http://127.0.0.1:{gw.http.port}/dead-letters?limit=x")
    assert bad_limit.status_code == 400


def test_duplicates_are_dropped_and_telemetry_is_stored_once(
        start_gateway: Callable[..., GatewayService], publisher: Publisher,
        data_dir: Path) -> None:
    gw = start_gateway()
    t = time.time_ns() // 1_000_000 - 60_000  # a minute ago: inside the store's retention
    for seq, value in ((1, 0.30), (2, 0.31), (1, 0.30), (3, 0.32), (2, 0.31)):
        publisher.publish(W1, {"ts": t + seq * 1000, "seq": seq, "pressure_mpa": value})
    wait_until(lambda: gw.metrics.total("messages_processed_total") == 3, what="stored")
    assert gw.metrics.total("duplicates_total") == 2
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        assert reader.series("w1", "pressure_mpa", t, t + 10_000) == [
            (t + 1000, 0.30), (t + 2000, 0.31), (t + 3000, 0.32)]


def test_device_states_reach_the_platform(start_gateway: Callable[..., GatewayService],
                                          publisher: Publisher, peer: AlarmPeer) -> None:
    start_gateway()
    publisher.publish("estate/e1/x1/telemetry", {"current_a": 4.5, "voltage_v": 221})
    publisher.publish("estate/e1/s2/status", b"offline")

    def states() -> dict[str, dict[str, Any]]:
        return {s["device_id"]: s for s in list(peer.device_states)}

    wait_until(lambda: {"x1", "s2"} <= states().keys(), what="device states")
    x1, s2 = states()["x1"], states()["s2"]
    assert x1["online"] is True and x1["values"] == {"current_a": 4.5, "voltage_v": 221.0}
    assert s2["online"] is False


def test_registry_reload_admits_new_devices(start_gateway: Callable[..., GatewayService],
                                            publisher: Publisher, registry_file: Path) -> None:
    gw = start_gateway()
    publisher.publish("estate/e9/n1/telemetry", {"pressure_mpa": 0.3})
    wait_until(lambda: gw.metrics.value("messages_rejected_total", reason="unknown_device") == 1)
    write_test_registry(registry_file, [("n1", "water_pressure", "e9", "b1", False)])
    gw.request_reload()
    wait_until(lambda: gw.metrics.total("registry_reloads_total") == 1, what="reload")
    publisher.publish("estate/e9/n1/telemetry", {"pressure_mpa": 0.3})
    wait_until(lambda: gw.metrics.total("messages_processed_total") == 1)


def test_registry_reload_keeps_a_pending_condition(
        start_gateway: Callable[..., GatewayService], publisher: Publisher, peer: AlarmPeer,
        registry_file: Path) -> None:
    gw = start_gateway()
    assert gw.pipeline is not None
    engine = gw.pipeline.detector
    t = time.time_ns() // 1_000_000 - 120_000  # device time: two minutes ago
    publisher.publish(W1, {"ts": t, "seq": 1, "pressure_mpa": 0.05})  # low: 30 s to hold
    wait_until(lambda: gw.metrics.total("messages_processed_total") == 1, what="the first")
    write_test_registry(registry_file, [*DEVICES, ("n1", "water_pressure", "e1", "b1", False)])
    gw.request_reload()
    wait_until(lambda: gw.metrics.total("registry_reloads_total") == 1, what="reload")
    assert gw.pipeline.detector is engine  # the same engine, with its state
    publisher.publish(W1, {"ts": t + 31_000, "seq": 2, "pressure_mpa": 0.05})
    wait_until(lambda: ("w1", "water_pressure_low") in peer.kinds(), what="the alarm")
    (raised,) = [a for a in peer.alarms.values() if a["kind"] == "water_pressure_low"]
    assert raised["evidence"]["window"]["start_ms"] == t  # held since before the reload


def test_gateway_status_birth_and_goodbye(start_gateway: Callable[..., GatewayService],
                                          broker: Any) -> None:
    received: queue.Queue[tuple[bytes, bool]] = queue.Queue()
    subscribed = threading.Event()
    watcher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    watcher.on_message = lambda c, u, m: received.put((m.payload, m.retain))
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("gongzhi/gateway/gw-a/status", qos=1)
    watcher.loop_start()
    try:
        assert subscribed.wait(10)
        gw = start_gateway(gateway_id="gw-a")
        assert received.get(timeout=10) == (b"online", False)  # birth message, not retained
        gw.stop()
        assert received.get(timeout=10) == (b"offline", False)
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def test_health_and_alarms_refused_for_good(start_gateway: Callable[..., GatewayService],
                                            publisher: Publisher, peer: AlarmPeer) -> None:
    gw = start_gateway()
    assert gw.http is not None
    base = f"http://127.0.0.1:{gw.http.port}"
    health = httpx.get(f"{base}/healthz").json()
    assert health == {"status": "ok", "gateway_id": "gateway", "mqtt_connected": True,
                      "queue_depth": 0, "worker_stalled_ms": 0, "problems": []}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    peer.status = 422
    publisher.publish("estate/e1/s1/event", {"event": "tamper", "seq": 1})
    wait_until(lambda: gw.metrics.total("alarms_refused_total") == 1, what="the refusal")
    [dead] = httpx.get(f"{base}/dead-alarms").json()
    assert dead["alarm"]["device_id"] == "s1" and dead["reason"].startswith("HTTP 422")
    assert "gongzhi_gateway_alarms_dead 1" in metrics_text(gw)
    assert httpx.get(f"{base}/nothing").status_code == 404


def test_alive_but_not_ready_without_the_broker(data_dir: Path, peer: AlarmPeer,
                                                registry_file: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gw = GatewayService(gateway_settings(data_dir, f"mqtt://127.0.0.1:{port}", peer.url))
    gw.start()
    try:
        assert gw.http is not None
        base = f"http://127.0.0.1:{gw.http.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False and ready.json()["mqtt_connected"] is False
    finally:
        gw.stop()
