"""CTWing (China Telecom AIoT platform) subscription pushes, decoded (pure; the source kind is
``ctwing``).

The platform POSTs one JSON object per message to the subscribed URL. The kinds used here
(``messageType``):

- ``dataReport``: ``payload`` holds the device's properties, either as ``serviceData`` (LwM2M
  products with a profile: ``{"serviceId": "...", "serviceData": {...}}``) or flat (``payload``
  itself is the object). A transparent payload (``{"APPdata": "<base64>"}``) is the device's own
  binary format: it is refused (``bad_shape``), since only a codec of that model could read it.
- ``dataReportTupUnion``: several reports in one (``payload`` a list of such objects).
- ``eventReport``: ``eventContent`` holds the event's fields; ``serviceId`` names the event and
  ``eventType`` says 1 info, 2 warning, 3 fault (both given to the mapping beside the content).
- ``deviceOnlineOfflineReport``: ``eventType`` 1 online, 0 offline.
- ``commandResponse`` and others: acknowledged and ignored (nothing about the device's state).

Identities: the ``IMEI`` first (what an installer writes down), then the platform's
``deviceId``. Online/offline reports carry only the ``deviceId``; the decoder remembers which
IMEI a ``deviceId`` reported with, so those reports find the device too.

A retry of the same message (``push_key``): its ``messageId`` when the push has one, otherwise
the hash of (``deviceId``, ``messageType``, ``timestamp``, ``serviceId``, ``payload``,
``eventContent``, ``eventType``): the platform's own timestamp is set when the device reported,
so a retry has the same one.
"""

from __future__ import annotations

from typing import Any

from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.messages import Presence
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.http_push_uplink import Uplink, content_key

IGNORED_TYPES = frozenset({"commandResponse", "deviceDataChanged", "deviceAdded",
                           "deviceDeleted"})
_MISSING_IMEI = frozenset({"", "undefined", "null"})


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return None if text in _MISSING_IMEI else text
    return None


def _timestamp(body: dict[str, Any]) -> int | None:
    ts = body.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int | str):
        return None
    try:
        return int(ts)
    except ValueError:
        return None


def push_key(body: dict[str, Any]) -> str:
    """The key of a push: the same message delivered again has the same key."""
    message_id = _text(body.get("messageId"))
    if message_id is not None:
        return f"id:{message_id}"
    return content_key(body.get("deviceId"), body.get("messageType"), body.get("timestamp"),
                       body.get("serviceId"), body.get("payload"), body.get("eventContent"),
                       body.get("eventType"))


class CtwingDecoder:
    """Decodes one push body (parsed JSON). Keeps the ``deviceId`` -> IMEI pairs it has seen
    (bounded), so an online/offline report finds a device registered by its IMEI."""

    def __init__(self, *, remember: int = 200_000) -> None:
        self._imei_of: dict[str, str] = {}
        self._remember = remember

    def decode(self, body: Any) -> list[Uplink]:
        if not isinstance(body, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "a CTWing push is a JSON object")
        kind = body.get("messageType")
        if not isinstance(kind, str):
            raise RejectedMessage(Reason.BAD_SHAPE, "no messageType")
        if kind in IGNORED_TYPES:
            return []
        device_id = _text(body.get("deviceId"))
        if device_id is None:
            raise RejectedMessage(Reason.BAD_SHAPE, f"{kind} without deviceId")
        imei = _text(body.get("IMEI")) or _text(body.get("imei"))
        if imei is not None:
            if len(self._imei_of) >= self._remember and device_id not in self._imei_of:
                self._imei_of.pop(next(iter(self._imei_of)))
            self._imei_of[device_id] = imei
        else:
            imei = self._imei_of.get(device_id)
        identities = (imei, device_id) if imei is not None else (device_id,)
        ts_ms = _timestamp(body)
        if kind == "dataReport":
            payload = body.get("payload")
            return [Uplink(identities, ts_ms, fields=_service_data(payload))]
        if kind == "dataReportTupUnion":
            payloads = body.get("payload")
            if not isinstance(payloads, list):
                raise RejectedMessage(Reason.BAD_SHAPE, "dataReportTupUnion payload must be a "
                                                        "list")
            return [Uplink(identities, ts_ms, fields=_service_data(p)) for p in payloads]
        if kind == "eventReport":
            content = body.get("eventContent")
            if content is None:
                content = {}
            if not isinstance(content, dict):
                raise RejectedMessage(Reason.BAD_SHAPE, "eventContent must be an object")
            service = _text(body.get("serviceId"))
            if service is None:
                raise RejectedMessage(Reason.BAD_SHAPE, "eventReport without serviceId")
            return [Uplink(identities, ts_ms,
                           fields={**content, "serviceId": service,
                                   "eventType": body.get("eventType")})]
        if kind == "deviceOnlineOfflineReport":
            state = body.get("eventType")
            if state not in (0, 1, "0", "1"):
                raise RejectedMessage(Reason.BAD_STATUS, "eventType must be 1 (online) or 0 "
                                                         "(offline)")
            presence = Presence.ONLINE if str(state) == "1" else Presence.OFFLINE
            return [Uplink(identities, ts_ms, presence=presence)]
        raise RejectedMessage(Reason.BAD_SHAPE, f"unknown messageType {kind[:64]!r}")


def _service_data(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise RejectedMessage(Reason.BAD_SHAPE, "dataReport payload must be an object")
    if "APPdata" in payload:
        raise RejectedMessage(Reason.BAD_SHAPE, "transparent payload (APPdata): give the "
                                                "product a profile on CTWing so it pushes "
                                                "serviceData")
    data = payload.get("serviceData", payload)
    if not isinstance(data, dict):
        raise RejectedMessage(Reason.BAD_SHAPE, "serviceData must be an object")
    return data
