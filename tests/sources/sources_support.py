"""Helpers for the outside-source tests: ChirpStack event payloads in the shapes of ChirpStack's
documentation (v4 integration events, v3 application-server events), a registry with external
ids, and a sources file beside it."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.gateway.service import GatewayService

ROOT = Path(__file__).resolve().parents[2]
SIMULATED_CHIRPSTACK = ROOT / "deploy" / "sources" / "chirpstack-simulated.yaml"

SMOKE_EUI = "a84041000181c2d1"
WATER_EUI = "a84041000181c2d2"
UNKNOWN_EUI = "0004a30b001c0530"

# device_id, type, external_id
DEVICES = (
    ("s1", "smoke", SMOKE_EUI.upper()),  # any case in the registry
    ("w1", "water_pressure", WATER_EUI),
    ("x1", "electrical", "modbus:127.0.0.1:5020/1"),
    ("j1", "water_pressure", "sensor-0042"),
    ("s2", "smoke", None),
)


def write_source_registry(path: Path) -> Path:
    write_registry(path, [
        DeviceRecord(device_id=d, type=DeviceType(t), external_id=ext,
                     location=Location("e1", "b1", "1", "3", "301"))
        for d, t, ext in DEVICES])
    return path


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def v4_up(dev_eui: str, obj: dict[str, Any], f_cnt: int, *, ts_ms: int | None = None,
          profile: str = "Smoke detector", dedup: str | None = None) -> dict[str, Any]:
    """A ChirpStack v4 ``event/up`` (integration.proto UplinkEvent as JSON)."""
    return {
        "deduplicationId": dedup or str(uuid.uuid4()),
        "time": iso(ts_ms or now_ms()),
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "ChirpStack",
            "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
            "applicationName": "Estate e1",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": profile, "deviceName": "detector", "devEui": dev_eui,
            "tags": {"building": "b1"}},
        "devAddr": "00189440", "adr": True, "dr": 5, "fCnt": f_cnt, "fPort": 10,
        "confirmed": False, "data": "AQID", "object": obj,
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "uplinkId": 4217106255, "rssi": -36,
                    "snr": 10.5, "channel": 2, "rfChain": 1, "context": "E3OWOQ==",
                    "metadata": {"region_common_name": "CN470"}, "crcStatus": "CRC_OK"}],
        "txInfo": {"frequency": 470300000, "modulation": {"lora": {
            "bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}},
    }


def v4_topic(dev_eui: str, event: str = "up") -> str:
    return f"application/17c82e96-be03-4f38-aef3-f83d48582d97/device/{dev_eui}/event/{event}"


def v3_up(dev_eui: str, obj: dict[str, Any], f_cnt: int, *,
          ts_ms: int | None = None) -> dict[str, Any]:
    """A ChirpStack Application Server v3 uplink (base64 ``devEUI``, ``objectJSON`` text)."""
    import orjson

    return {
        "applicationID": "123", "applicationName": "estate-e1", "deviceName": "pressure-b1",
        "devEUI": base64.b64encode(bytes.fromhex(dev_eui)).decode(),
        "rxInfo": [{"gatewayID": "AwMDAwMDAwM=", "time": iso(ts_ms or now_ms()), "rssi": -48,
                    "loRaSNR": 9, "channel": 5, "rfChain": 0, "board": 0, "antenna": 0,
                    "location": {"latitude": 22.54, "longitude": 114.05, "altitude": 10.5},
                    "fineTimestampType": "NONE", "context": "9u/uvA==",
                    "uplinkID": "jhMh8Gq6RAOChSKbi83RHQ=="}],
        "txInfo": {"frequency": 470300000, "modulation": "LORA", "loRaModulationInfo": {
            "bandwidth": 125, "spreadingFactor": 11, "codeRate": "4/5",
            "polarizationInversion": False}},
        "adr": False, "dr": 1, "fCnt": f_cnt, "fPort": 5, "data": "AQID",
        "objectJSON": orjson.dumps(obj).decode(), "tags": {}, "confirmedUplink": False,
        "devAddr": "AFE5Qg==", "publishedAt": iso(ts_ms or now_ms()),
    }


def v3_topic(dev_eui: str, event: str = "rx") -> str:
    """The older v3 form (``.../rx``); ``event="event/up"`` gives the v3.x one."""
    return f"application/123/device/{dev_eui}/{event}"


CHIRPSTACK_PROFILES = """\
      profiles:
        - device_profiles: [Smoke detector]
          device_types: [smoke]
          metrics:
            smoke_db_m: {path: smokeObscuration, unit: "%/ft"}
            temp_c: temperature
            battery_pct: battery
          events:
            - path: $.alarm.status
              values: {"2": smoke_alarm, "3": tamper}
        - device_types: [water_pressure]
          metrics:
            pressure_mpa: {path: pressure, unit: bar}
"""


def chirpstack_sources(broker_url: str, client_id: str = "gz-lora") -> str:
    return (f"sources:\n  - id: lorawan\n    kind: chirpstack\n    options:\n"
            f"      broker: {broker_url}\n      client_id: {client_id}\n" + CHIRPSTACK_PROFILES)


def dead_letters(gw: GatewayService, reason: str) -> list[dict[str, object]]:
    """The gateway's dead letters of one reason, newest first, through its status port."""
    assert gw.http is not None
    url = f"http://127.0.0.1:{gw.http.port}/dead-letters?reason={reason}"
    result: list[dict[str, object]] = httpx.get(url).json()
    return result
