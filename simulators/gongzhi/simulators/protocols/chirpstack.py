"""``chirpstack-v3`` and ``chirpstack-v4``: the simulated devices as LoRaWAN devices behind a
ChirpStack network server, published the way its MQTT integration does.

Each device gets a devEUI (8 bytes from a hash of its id: the registry's ``external_id``) and a
device profile of its type (``gongzhi-smoke``, ``gongzhi-water-pressure``,
``gongzhi-electrical``). A telemetry message becomes an uplink (``event/up``) whose decoded
object uses codec-style field names and units (pressure in bar); an event becomes an uplink
with ``alarm_status`` set to the event's code (``ALARM_CODES``); ``online`` becomes a join.
Offline has no LoRaWAN message: silence is how a LoRaWAN device goes offline. The same
simulated message (a duplicate fault) gives the same deduplicationId and fCnt, as a network
server delivering an uplink twice does. A payload that is not our JSON (a protocol fault) goes
out as an uplink without a decoded object, as from a device whose profile has no codec.

v4 (ChirpStack 4): ``application/<uuid>/device/<devEui>/event/up`` with ``deviceInfo`` (hex
``devEui``, ``deviceProfileName``), ``object``, ``time``, ``fCnt``, ``deduplicationId``.
v3 (ChirpStack Application Server 3): ``application/<id>/device/<devEUI>/event/up`` with base64
``devEUI``, ``objectJSON`` as a string, ``fCnt``, ``publishedAt``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import NO_DEVICE, Message, Outgoing
from gongzhi.simulators.protocols import (
    NativeEncoder,
    Protocol,
    contract_body,
    contract_topic,
    status_online,
)

PROFILES: dict[DeviceType, str] = {
    DeviceType.SMOKE: "gongzhi-smoke",
    DeviceType.WATER_PRESSURE: "gongzhi-water-pressure",
    DeviceType.ELECTRICAL: "gongzhi-electrical",
    DeviceType.WATER_METER: "gongzhi-water-meter",
}
# Our metric -> (codec field, factor from our unit to the codec's).
FIELDS: dict[str, tuple[str, float]] = {
    "smoke_db_m": ("smoke_density", 1.0),
    "temp_c": ("temperature", 1.0),
    "battery_pct": ("battery", 1.0),
    "pressure_mpa": ("pressure", 10.0),  # bar
    "residual_ma": ("leakage_current", 1.0),
    "cable_temp_c": ("cable_temperature", 1.0),
    "current_a": ("current", 1.0),
    "voltage_v": ("voltage", 1.0),
    "power_w": ("power", 1.0),
}
ALARM_CODES: dict[str, int] = {"smoke_alarm": 2, "tamper": 3, "low_battery": 4, "fault": 5,
                               "self_test_fail": 6, "arc_fault": 7, "silenced": 8}
NAMESPACE = uuid.UUID("5d0c3a8e-6f0e-4a53-9a43-6b1b7f0c2e11")
TENANT_ID = str(uuid.uuid5(NAMESPACE, "tenant"))
GATEWAY_EUI = "0016c001f153a14c"


def dev_eui(device_id: str) -> str:
    """The simulated devEUI of a device, 16 lower-case hex digits."""
    return hashlib.sha256(f"gongzhi-lora:{device_id}".encode()).digest()[:8].hex()


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")


def decoded_object(body: dict[str, Any], channel: str, *,
                   fields: dict[str, tuple[str, float]] = FIELDS,
                   alarm_field: str = "alarm_status",
                   alarm_codes: dict[str, int] = ALARM_CODES) -> dict[str, Any]:
    """The codec's view of one of our contract messages (telemetry or event); another
    product's field names, alarm field and codes may be given (the carriers' products)."""
    if channel == "event":
        event = body.get("event")
        return {alarm_field: alarm_codes.get(event, 0) if isinstance(event, str) else 0}
    values = body.get("values", body)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("ts", "seq"):
            continue
        field, factor = fields.get(name, (name, 1.0))
        out[field] = value * factor if isinstance(value, int | float) and factor != 1.0 \
            else value
    return out


class ChirpStackEncoder(NativeEncoder):
    mqtt_mode: str | None = "multiplexed"  # the network server's one connection

    def __init__(self, version: int, records: Sequence[DeviceRecord], seed: int) -> None:
        self.version = version
        self._by_id = {r.device_id: r for r in records}
        self._seed = seed
        self._joins = 0

    def external_id(self, record: DeviceRecord) -> str | None:
        return dev_eui(record.device_id)

    def encode(self, items: Sequence[Outgoing]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for item in items:
            if isinstance(item, Message):
                encoded = self.message(item)
                if encoded is not None:
                    out.append(encoded)
        return out  # connection changes (links) have no LoRaWAN counterpart

    def message(self, message: Message) -> Message | None:
        parts = contract_topic(message.topic)
        if parts is None:
            return None
        estate_id, device_id, channel = parts
        record = self._by_id.get(device_id)
        profile = PROFILES[record.type] if record is not None else "unknown"
        eui = dev_eui(device_id)
        if channel == "status":
            if not status_online(message.payload):
                return None
            return self._publish(message, estate_id, eui, "join",
                                 self._join(estate_id, device_id, eui, profile))
        if channel not in ("telemetry", "event"):
            return None
        body = contract_body(message.payload)
        obj: dict[str, Any] | None = None
        ts: int | None = None
        seq = 0
        if body is not None:
            obj = decoded_object(body, channel)
            ts = body["ts"] if isinstance(body.get("ts"), int) else None
            seq = body["seq"] if isinstance(body.get("seq"), int) else 0
        uplink = self._up(estate_id, device_id, eui, profile, channel, obj, ts, seq,
                          message.payload)
        return self._publish(message, estate_id, eui, "up", uplink)

    def _publish(self, message: Message, estate_id: str, eui: str, event: str,
                 body: dict[str, Any]) -> Message:
        application = self._application(estate_id)
        topic = f"application/{application}/device/{eui}/event/{event}"
        return Message(message.device if message.device != NO_DEVICE else NO_DEVICE, topic,
                       orjson.dumps(body), 1)

    def _application(self, estate_id: str) -> str:
        if self.version == 4:
            return str(uuid.uuid5(NAMESPACE, f"application:{estate_id}"))
        return str(1 + int.from_bytes(hashlib.sha256(estate_id.encode()).digest()[:2], "big"))

    def _up(self, estate_id: str, device_id: str, eui: str, profile: str, channel: str,
            obj: dict[str, Any] | None, ts: int | None, seq: int,
            payload: bytes) -> dict[str, Any]:
        f_cnt = seq % 2**32
        data = base64.b64encode(hashlib.sha256(payload).digest()[:11]).decode()
        if self.version == 4:
            body: dict[str, Any] = {
                "deduplicationId": str(uuid.uuid5(NAMESPACE, f"{eui}:{channel}:{seq}:{ts}")),
                "deviceInfo": self._device_info(estate_id, device_id, eui, profile),
                "devAddr": eui[8:], "adr": True, "dr": 5, "fCnt": f_cnt, "fPort": 10,
                "confirmed": channel == "event", "data": data,
                "rxInfo": [{"gatewayId": GATEWAY_EUI, "uplinkId": f_cnt * 7 + 1, "rssi": -57,
                            "snr": 9.5, "channel": 2, "rfChain": 1, "context": "E3OWOQ==",
                            "metadata": {"region_config_id": "cn470_10",
                                         "region_common_name": "CN470"},
                            "crcStatus": "CRC_OK"}],
                "txInfo": {"frequency": 470300000, "modulation": {"lora": {
                    "bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}},
            }
            if ts is not None:
                body["time"] = _iso(ts)
            if obj is not None:
                body["object"] = obj
            return body
        body = {
            "applicationID": self._application(estate_id), "applicationName": estate_id,
            "deviceName": device_id, "devEUI": base64.b64encode(bytes.fromhex(eui)).decode(),
            "rxInfo": [{"gatewayID": base64.b64encode(bytes.fromhex(GATEWAY_EUI)).decode(),
                        "rssi": -57, "loRaSNR": 9.5, "channel": 2, "rfChain": 1, "board": 0,
                        "antenna": 0, "fineTimestampType": "NONE", "context": "9u/uvA=="}],
            "txInfo": {"frequency": 470300000, "modulation": "LORA", "loRaModulationInfo": {
                "bandwidth": 125, "spreadingFactor": 7, "codeRate": "4/5",
                "polarizationInversion": False}},
            "adr": True, "dr": 5, "fCnt": f_cnt, "fPort": 10, "data": data,
            "objectJSON": "" if obj is None else orjson.dumps(obj).decode(), "tags": {},
            "confirmedUplink": channel == "event",
            "devAddr": base64.b64encode(bytes.fromhex(eui[8:])).decode(),
        }
        if ts is not None:
            body["publishedAt"] = _iso(ts)
            body["rxInfo"][0]["time"] = _iso(ts)
        return body

    def _device_info(self, estate_id: str, device_id: str, eui: str,
                     profile: str) -> dict[str, Any]:
        return {"tenantId": TENANT_ID, "tenantName": "ChirpStack",
                "applicationId": self._application(estate_id), "applicationName": estate_id,
                "deviceProfileId": str(uuid.uuid5(NAMESPACE, f"profile:{profile}")),
                "deviceProfileName": profile, "deviceName": device_id, "devEui": eui,
                "deviceClassEnabled": "CLASS_A", "tags": {}}

    def _join(self, estate_id: str, device_id: str, eui: str, profile: str) -> dict[str, Any]:
        self._joins += 1
        if self.version == 4:
            return {"deduplicationId": str(uuid.uuid5(NAMESPACE, f"join:{eui}:{self._seed}:"
                                                                 f"{self._joins}")),
                    "deviceInfo": self._device_info(estate_id, device_id, eui, profile),
                    "devAddr": eui[8:]}
        return {"applicationID": self._application(estate_id), "applicationName": estate_id,
                "deviceName": device_id,
                "devEUI": base64.b64encode(bytes.fromhex(eui)).decode(),
                "devAddr": base64.b64encode(bytes.fromhex(eui[8:])).decode(), "dr": 5,
                "tags": {}}


def build(name: str, records: Sequence[DeviceRecord], seed: int) -> ChirpStackEncoder:
    return ChirpStackEncoder(3 if name == "chirpstack-v3" else 4, records, seed)


PROTOCOL = Protocol("chirpstack", build)
