"""Carrier push bodies in the platforms' own shapes, and signing as the platforms sign.

CTWing: the subscription push's fields as CTWing's application documentation tables them
(数据上报 ``dataReport``: upPacketSN, upDataSN, topic, timestamp, tenantId, serviceId, protocol,
productId, payload, messageType, deviceType, deviceId, assocAssetId, IMSI, IMEI; 事件上报
``eventReport``: eventType 1 info / 2 warning / 3 fault, eventContent, serviceId; 设备上下线
``deviceOnlineOfflineReport``: eventType 1 online / 0 offline). The smoke detector's
``payload.serviceData`` (Alarm_Status, Battery_Level, TData, RSRP, SNR, CSQ, IMEI, Cell_ID...) is
the LwM2M profile of an NB-IoT smoke detector as its pushes appear in public integrations.

OneNET classic: open.iot.10086.cn/doc/book/application-develop/httppush/develop-manual.html
(GET ?msg&nonce&signature with signature = base64(md5(token+nonce+msg)); POST body {msg,
msg_signature, nonce}; type 1 data point dev_id/ds_id/at/value, type 2 online/offline status).
OneNET Studio: iot.10086.cn/doc/iot_platform/book/application-develop/push/ (lifeCycle with
data.status online/offline; notify with notifyType property/event and data.params
{name: {value, time}}); its push carries the message as JSON text in ``msg``.
"""

from __future__ import annotations

import random
import string
from typing import Any

import orjson

from gongzhi.gateway.sources.onenet_decode import sign

CTWING_TS = 1_767_225_600_000  # the tests' T0


def ctwing_data_report(imei: str, device_id: str, service_data: dict[str, Any],
                       ts: int = CTWING_TS) -> dict[str, Any]:
    return {"upPacketSN": -1, "upDataSN": -1, "topic": "v1/up/ad19prof", "timestamp": ts,
            "tenantId": "10461180", "serviceId": "", "protocol": "lwm2m",
            "productId": "15014772",
            "payload": {"serviceId": "notification", "serviceData": service_data},
            "messageType": "dataReport", "deviceType": "", "deviceId": device_id,
            "assocAssetId": "", "IMSI": "undefined", "IMEI": imei}


def smoke_service_data(alarm_status: int, battery: int = 100, temp: int = 30,
                       imei: str = "860374051096202") -> dict[str, Any]:
    return {"TData": temp, "SNR": 1, "RSRP": 114, "IMEI": imei, "Cell_ID_Length": 8,
            "Cell_ID": "38848339", "CSQ": 5, "Battery_Level": battery,
            "Alarm_Status": alarm_status, "AlarmLevel": 100}


def ctwing_event_report(imei: str, device_id: str, service_id: int, content: dict[str, Any],
                        ts: int = CTWING_TS, event_type: int = 2) -> dict[str, Any]:
    return {"timestamp": ts, "tenantId": "2000033827", "serviceId": service_id,
            "protocol": "lwm2m", "productId": "15045240", "messageType": "eventReport",
            "eventType": event_type, "eventContent": content, "deviceSn": "",
            "deviceId": device_id, "IMSI": "undefined", "IMEI": imei}


def ctwing_online_offline(device_id: str, online: bool, ts: int = CTWING_TS) -> dict[str, Any]:
    return {"timestamp": ts, "tenantId": "2000033827", "protocol": "lwm2m",
            "productId": "15045240", "messageType": "deviceOnlineOfflineReport",
            "iccid": "undefined", "eventType": 1 if online else 0, "deviceId": device_id}


# Field mapping of the smoke detector above (as an integrator writes it in the sources file).
SMOKE_MAPPING: dict[str, Any] = {
    "metrics": {"battery_pct": "Battery_Level", "temp_c": "TData"},
    "events": [{"path": "Alarm_Status", "values": {"2": "smoke_alarm", "4": "low_battery",
                                                   "5": "tamper"}},
               {"path": "serviceId", "values": {"1002": "low_battery"}},
               {"path": "event", "values": {"smoke_alarm": "smoke_alarm"}}],
}


def nonce(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(8))


def onenet_push(token: str, msg: Any, rng: random.Random) -> bytes:
    """A classic OneNET push (plain mode), signed over the compact JSON of ``msg``."""
    n = nonce(rng)
    text = orjson.dumps(msg).decode()
    signature = sign(token, n, text)
    return ('{"msg":' + text + ',"msg_signature":"' + signature + '","nonce":"' + n
            + '"}').encode()


def onenet_datapoint(dev_id: int, ds_id: str, value: Any, at: int = CTWING_TS) -> dict[str, Any]:
    return {"at": at, "type": 1, "ds_id": ds_id, "value": value, "dev_id": dev_id}


def onenet_status(dev_id: int, online: bool, at: int = CTWING_TS) -> dict[str, Any]:
    return {"at": at, "login_type": 10, "type": 2, "dev_id": dev_id, "status": 1 if online else 0}


def studio_push(token: str, message: dict[str, Any], rng: random.Random) -> bytes:
    """A OneNET Studio push: the message as JSON text in ``msg``, signed over that text."""
    n = nonce(rng)
    text = orjson.dumps(message).decode()
    return orjson.dumps({"msg": text, "signature": sign(token, n, text), "nonce": n,
                         "time": CTWING_TS, "id": f"{rng.getrandbits(64):x}"})


def studio_property(product: str, name: str, params: dict[str, Any],
                    ts: int = CTWING_TS) -> dict[str, Any]:
    return {"productId": product, "deviceName": name, "messageType": "notify",
            "notifyType": "property",
            "data": {"id": "1631522002438", "version": "1.0",
                     "params": {k: {"time": ts, "value": v} for k, v in params.items()}}}


def studio_event(product: str, name: str, event: str, value: dict[str, Any],
                 ts: int = CTWING_TS) -> dict[str, Any]:
    return {"productId": product, "deviceName": name, "messageType": "notify",
            "notifyType": "event",
            "data": {"id": "1631522157984", "version": "1.0",
                     "params": {event: {"eventType": "alert", "time": ts, "value": value}}}}


def studio_life_cycle(product: str, name: str, online: bool,
                      ts: int = CTWING_TS) -> dict[str, Any]:
    return {"productId": product, "deviceName": name, "messageType": "lifeCycle",
            "data": {"status": "online" if online else "offline", "time": ts}}
