"""``ctwing``: the simulated devices as NB-IoT products on China Telecom's CTWing, which pushes
each report to the gateway's ``ctwing`` source (``--push-url``, with ``?token=`` when a token
file is given).

Telemetry and events become ``dataReport`` pushes whose ``payload.serviceData`` carries the
product's fields (``carrier.FIELDS``; an event as ``Alarm_Status``); a device going offline or
online (its connection dropped or back, or its own status) becomes a
``deviceOnlineOfflineReport``. Identities: the IMEI (the registry's ``external_id``) and the
platform's ``deviceId``. Nothing goes over MQTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import Link, LinkAction, Message, Outgoing
from gongzhi.simulators.protocols import Protocol, Route
from gongzhi.simulators.protocols.carrier import (
    PushSender,
    fields_of,
    imei,
    parse,
    platform_device_id,
)

TENANT = "2000033827"
PRODUCT = "15045240"


def data_report(device_id: str, service_data: dict[str, Any], ts: int) -> dict[str, Any]:
    return {"upPacketSN": -1, "upDataSN": -1, "topic": "v1/up/ad", "timestamp": ts,
            "tenantId": TENANT, "serviceId": "", "protocol": "lwm2m", "productId": PRODUCT,
            "payload": {"serviceId": "report", "serviceData": service_data},
            "messageType": "dataReport", "deviceType": "",
            "deviceId": platform_device_id(device_id), "assocAssetId": "", "IMSI": "undefined",
            "IMEI": imei(device_id)}


def online_offline(device_id: str, online: bool, ts: int) -> dict[str, Any]:
    return {"timestamp": ts, "tenantId": TENANT, "protocol": "lwm2m", "productId": PRODUCT,
            "messageType": "deviceOnlineOfflineReport", "iccid": "undefined",
            "eventType": 1 if online else 0, "deviceId": platform_device_id(device_id)}


class CtwingEncoder:
    mqtt_mode: str | None = "multiplexed"

    def __init__(self, records: Sequence[DeviceRecord], route: Route) -> None:
        self._records = list(records)
        self._sender = PushSender(route.push_url, "ctwing")
        self._params = {"token": route.push_token} if route.push_token else None
        self._clock_ms = 0

    def external_id(self, record: DeviceRecord) -> str | None:
        return imei(record.device_id)

    def open(self) -> None:
        self._sender.open()

    def close(self) -> None:
        self._sender.close()

    def encode(self, items: Sequence[Outgoing]) -> Sequence[Outgoing]:
        for item in items:
            body = self.report(item)
            if body is not None:
                self._sender.post(orjson.dumps(body), self._params)
        return []

    def report(self, item: Outgoing) -> dict[str, Any] | None:
        """The CTWing push for one item of the simulation (None: nothing to push)."""
        if isinstance(item, Link):
            if not 0 <= item.device < len(self._records):
                return None
            online = item.action is LinkAction.CONNECT
            return online_offline(self._records[item.device].device_id, online, self._clock_ms)
        assert isinstance(item, Message)
        parts = item.topic.split("/")
        if len(parts) != 4 or parts[0] != "estate":
            return None
        _, _, device_id, channel = parts
        if channel == "status":
            text = item.payload.strip().strip(b'"').lower()
            if text not in (b"online", b"offline"):
                return None
            return online_offline(device_id, text == b"online", self._clock_ms)
        body = parse(item.payload)
        if body is None or channel not in ("telemetry", "event"):
            return None
        ts = body.get("ts")
        if isinstance(ts, int):
            self._clock_ms = max(self._clock_ms, ts)
        return data_report(device_id, fields_of(body, channel),
                           ts if isinstance(ts, int) else self._clock_ms)


def build(name: str, records: Sequence[DeviceRecord], seed: int) -> CtwingEncoder:
    return CtwingEncoder(records, Route())


def build_routed(name: str, records: Sequence[DeviceRecord], seed: int,
                 route: Route) -> CtwingEncoder:
    return CtwingEncoder(records, route)


PROTOCOL = Protocol("ctwing", build, build_routed)
