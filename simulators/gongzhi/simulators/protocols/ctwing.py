"""``ctwing``: the simulated devices as NB-IoT products on China Telecom's CTWing, which pushes
each report to the gateway's ``ctwing`` source (``--push-url``, with ``?token=`` when a token
file is given).

Telemetry and events become ``dataReport`` pushes whose ``payload.serviceData`` carries the
product's fields (``carrier.FIELDS``; an event as ``Alarm_Status``); a device going offline or
online (its connection dropped or back, or its own status) becomes a
``deviceOnlineOfflineReport``. Identities: the IMEI and the platform's ``deviceId``, both in
the registry's ``external_id`` (``IMEI|deviceId``, as an installer copies them from the
platform's console), so that a device's online report finds it before its first data report.
Nothing goes over MQTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gongzhi.devices.registry import ALSO, DeviceRecord
from gongzhi.simulators.outgoing import Outgoing
from gongzhi.simulators.protocols import Route, routed
from gongzhi.simulators.protocols.carrier import CarrierEncoder, imei, platform_device_id

TENANT = "2000033827"
LANES = 8  # pushes in flight, each device's in one lane
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


class CtwingEncoder(CarrierEncoder):
    def __init__(self, records: Sequence[DeviceRecord], route: Route) -> None:
        super().__init__(records, route, "ctwing", LANES)
        self._params = {"token": route.push_token} if route.push_token else None

    def external_id(self, record: DeviceRecord) -> str | None:
        return f"{imei(record.device_id)}{ALSO}{platform_device_id(record.device_id)}"

    def encode(self, items: Sequence[Outgoing]) -> Sequence[Outgoing]:
        # One push a report, as CTWing sends them; devices side by side, each in its order.
        for item in items:
            for body in self.reports(item):
                self._sender.submit(body["deviceId"], orjson.dumps(body), self._params)
        return []

    def report(self, item: Outgoing) -> dict[str, Any] | None:
        """The CTWing push for one item of the simulation (None: nothing to push)."""
        reports = self.reports(item)
        return reports[0] if reports else None

    def status(self, device_id: str, online: bool) -> dict[str, Any]:
        return online_offline(device_id, online, self._clock_ms)

    def reading(self, device_id: str, fields: dict[str, Any], at: int) -> list[dict[str, Any]]:
        return [data_report(device_id, fields, at)]


PROTOCOL = routed("ctwing", lambda records, seed, route: CtwingEncoder(records, route))
