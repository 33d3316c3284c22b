"""CTWing and OneNET pushes over real HTTP into a whole gateway (its one pipeline, a real
broker, the platform's alarm endpoint stood in by a real HTTP peer): telemetry stored, a smoke
alarm sent to the platform, a retry stored once, a wrong signature refused and counted, an
unknown device and a malformed push kept as dead letters with their reasons."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.service import GatewayService
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.gateway.gateway_support import AlarmPeer, wait_until
from tests.sources.push_fixtures import (
    SMOKE_MAPPING,
    ctwing_data_report,
    onenet_datapoint,
    onenet_push,
    smoke_service_data,
    studio_life_cycle,
    studio_push,
)

CTWING_IMEI = "860374051096202"
CTWING_DEVICE = "acf7baaee65e431eadfb8f5fe50e8b81"
ONENET_DEV = 5012
TOKEN = "onenet-instance-token"


def push_sources(data_dir: Path) -> str:
    (data_dir / "onenet.token").write_text(TOKEN + "\n")
    mapping = json.dumps(SMOKE_MAPPING)
    return (f"sources:\n"
            f"  - id: telecom\n    kind: ctwing\n    options:\n"
            f"      listen: 127.0.0.1:0\n      mapping: {mapping}\n"
            f"  - id: mobile\n    kind: onenet\n    options:\n"
            f"      listen: 127.0.0.1:0\n      token: {{file: onenet.token}}\n"
            f"      mapping: {mapping}\n")


def write_push_registry(path: Path) -> None:
    loc = Location("e1", "b1", "1", "3", "301")
    write_registry(path, [
        DeviceRecord("s1", DeviceType.SMOKE, loc, external_id=CTWING_IMEI),
        DeviceRecord("s2", DeviceType.SMOKE, Location("e1", "b2", "1", "2", "201"),
                     external_id=str(ONENET_DEV)),
        DeviceRecord("s3", DeviceType.SMOKE, loc, external_id="C6z4Zk012B/smoke03")])


def _url(gw: GatewayService, source_id: str, path: str) -> str:
    assert gw.sources is not None
    source: Any = gw.sources.sources.get(source_id)
    return f"http://127.0.0.1:{source.port}{path}"


def _status(gw: GatewayService, path: str) -> httpx.Response:
    assert gw.http is not None
    return httpx.get(f"http://127.0.0.1:{gw.http.port}{path}")


def _sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_ctwing_and_onenet_pushes_become_telemetry_and_smoke_alarms(
        source_gateway: Callable[..., GatewayService], data_dir: Path, peer: AlarmPeer) -> None:
    write_push_registry(data_dir / "registry.csv")
    gw = source_gateway(push_sources(data_dir))
    ctwing = _url(gw, "telecom", "/ctwing")
    onenet = _url(gw, "mobile", "/onenet")
    now = gw.clock.now_ms()
    rng = random.Random(3)
    normal = orjson.dumps(ctwing_data_report(CTWING_IMEI, CTWING_DEVICE,
                                             smoke_service_data(0, battery=87, temp=24),
                                             ts=now - 60_000))
    fire = orjson.dumps(ctwing_data_report(CTWING_IMEI, CTWING_DEVICE,
                                           smoke_service_data(2, battery=87, temp=31),
                                           ts=now - 30_000))
    with httpx.Client(timeout=10) as client:
        assert client.post(ctwing, content=normal).status_code == 200
        assert client.post(ctwing, content=normal).status_code == 200  # CTWing's retry
        assert client.post(ctwing, content=fire).status_code == 200
        assert client.post(onenet, content=onenet_push(TOKEN, [
            onenet_datapoint(ONENET_DEV, "Battery_Level", 64, at=now - 20_000),
            onenet_datapoint(ONENET_DEV, "Alarm_Status", 2, at=now - 10_000)], rng)
        ).status_code == 200
        forged = onenet_push("guessed-token", [onenet_datapoint(ONENET_DEV, "Alarm_Status", 2)],
                             rng)
        assert client.post(onenet, content=forged).status_code == 401
        assert client.post(onenet, content=studio_push(
            TOKEN, studio_life_cycle("C6z4Zk012B", "smoke03", online=True), rng)
        ).status_code == 200
    wait_until(lambda: ("s1", "smoke_alarm") in peer.kinds() and ("s2", "smoke_alarm")
               in peer.kinds(), what="both smoke alarms at the platform")
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        wait_until(lambda: len(reader.series("s1", "battery_pct", now - 70_000, now)) == 2,
                   what="the CTWing readings stored")
        # The retry of the first report is stored once.
        assert reader.series("s1", "battery_pct", now - 70_000, now) == [
            (now - 60_000, 87.0), (now - 30_000, 87.0)]
        assert reader.series("s2", "battery_pct", now - 70_000, now) == [(now - 20_000, 64.0)]
    wait_until(lambda: any(s["device_id"] == "s3" and s["online"] for s in peer.device_states),
               what="the Studio lifeCycle online state")
    metrics = _status(gw, "/metrics").text
    assert _sample(metrics, 'gongzhi_gateway_source_refused_total{reason="bad_signature",'
                            'source="mobile"}') == 1
    assert _sample(metrics, 'gongzhi_gateway_source_duplicates_total{source="telecom"}') == 1
    assert _sample(metrics, 'gongzhi_gateway_source_messages_received_total'
                            '{source="telecom"}') == 2


def test_unknown_devices_and_malformed_pushes_are_dead_letters(
        source_gateway: Callable[..., GatewayService], data_dir: Path) -> None:
    write_push_registry(data_dir / "registry.csv")
    gw = source_gateway(push_sources(data_dir))
    ctwing = _url(gw, "telecom", "/ctwing")
    with httpx.Client(timeout=10) as client:
        stranger = ctwing_data_report("869999999999999", "ffff", smoke_service_data(2))
        assert client.post(ctwing, content=orjson.dumps(stranger)).status_code == 200
        malformed = client.post(ctwing, content=b'{"messageType": "eventReport", "deviceId": 1}')
        assert malformed.status_code == 400 and "bad_shape" in malformed.text

    def letters(reason: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = _status(gw, f"/dead-letters?reason={reason}").json()
        return found

    unknown = wait_until(lambda: letters("unknown_device"), what="the unknown device's letter")
    assert "869999999999999" in unknown[0]["detail"]
    shape = wait_until(lambda: letters("bad_shape"), what="the malformed push's letter")
    assert '"eventReport"' in shape[0]["payload"]
    metrics = _status(gw, "/metrics").text
    assert _sample(metrics, 'gongzhi_gateway_source_messages_rejected_total'
                            '{reason="unknown_device",source="telecom"}') == 1
