"""``chirpstack``: LoRaWAN devices through a ChirpStack network server's MQTT integration.

Events, by the topic's last part (``application/<app>/device/<devEUI>/event/<type>`` in v4 and
v3.x, ``application/<app>/device/<devEUI>/<type>`` in older v3, where ``rx`` is the uplink):

- ``up`` / ``rx``: the codec's decoded object (v4 ``object``; v3 ``objectJSON``, a string) is
  mapped by the device's profile to catalogue metrics and events; timestamp from v4 ``time`` or
  v3 ``publishedAt`` (else the receive time).
- ``status``: ``batteryLevel`` (%) becomes the ``battery_pct`` metric where the device type has
  one (else it is counted as ignored); an unavailable level or an external power source is
  ignored.
- ``join``: the device (re)joined the network: it is ``online``.
- anything else (``ack``, ``txack``, ``log``, ``location``, ``integration``...): ignored, counted.

The device: v4 ``deviceInfo.devEui`` (hex), v3 ``devEUI`` (base64 in the protobuf JSON form,
hex in the older form), else the topic's; looked up in the registry's ``external_id`` (the
devEUI in hex, any case). An unknown one is an ``unknown_device`` dead letter naming it.

The profile: the first of ``profiles`` whose ``device_profiles`` holds the uplink's ChirpStack
device-profile name (v4 ``deviceInfo.deviceProfileName``), else the first whose
``device_types`` holds the registry type of the device (v3 uplinks name no profile). An uplink
whose object no path of its profile matches is an ``unmapped_field`` dead letter naming the
object's fields; one without a decoded object (no codec) is ``unmapped_field`` too.

Duplicates (ChirpStack delivering one uplink twice, a broker redelivering it): dropped by v4
``deduplicationId``, or by (devEUI, fCnt, payload) for v3, remembered for the last
``dedup_memory`` uplinks (a join forgets the device's: its frame counter starts again).
The memory is the process's, as the pipeline's ``(device, seq)`` memory of our own contract:
across a restart, an uplink delivered again lands on its own keys in the stores (telemetry by
device and the uplink's time, alarms by their stable id) and is kept once.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from typing import Any

from pydantic import Field, field_validator

from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import DeviceType, spec_for
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.decode import parse_json
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.base import (
    SourceContext,
    SourceKind,
    native_status,
    native_telemetry,
)
from gongzhi.gateway.sources.jsonmap import native_messages
from gongzhi.gateway.sources.mapping import CompiledMapping, FieldMapping
from gongzhi.gateway.sources.mqtt_transport import MqttOptions, MqttSource

DEFAULT_TOPICS = ["application/+/device/+/event/+", "application/+/device/+/+"]
BATTERY_METRIC = "battery_pct"
_HEX_EUI = re.compile(r"[0-9a-fA-F]{16}")
UPLINK = frozenset({"up", "rx"})


class Profile(FieldMapping):
    """A mapping of decoded fields, and the devices it is for."""

    device_profiles: list[str] = Field(default_factory=list)
    device_types: list[DeviceType] = Field(default_factory=list)


class ChirpStackOptions(MqttOptions):
    topics: list[str] = Field(default_factory=lambda: list(DEFAULT_TOPICS), min_length=1)
    profiles: list[Profile] = Field(min_length=1)
    dedup_memory: int = Field(default=100_000, ge=0, le=10_000_000)

    @field_validator("profiles")
    @classmethod
    def _reachable(cls, value: list[Profile]) -> list[Profile]:
        for index, profile in enumerate(value):
            if not profile.device_profiles and not profile.device_types:
                raise ValueError(f"profiles[{index}] names no device_profiles nor "
                                 "device_types: no device would use it")
        return value


def dev_eui_hex(text: str) -> str:
    """A devEUI as ChirpStack writes it (hex, or base64 in v3's protobuf JSON) in lower-case
    hex."""
    if _HEX_EUI.fullmatch(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 8:
        raise RejectedMessage(Reason.BAD_SHAPE, f"devEUI {text[:40]!r} is neither 16 hex "
                                                "digits nor 8 bytes of base64")
    return raw.hex()


class _Uplink:
    """What the translation needs of one ChirpStack event, v3 or v4."""

    __slots__ = ("body", "dedup", "dev_eui", "profile", "ts", "v4")

    def __init__(self, topic: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "a ChirpStack event is a JSON object")
        self.body = body
        info = body.get("deviceInfo")
        self.v4 = isinstance(info, dict)
        parts = topic.split("/")
        if self.v4:
            assert isinstance(info, dict)
            eui = info.get("devEui")
            profile = info.get("deviceProfileName")
            ts = body.get("time")
        else:
            eui = body.get("devEUI")
            profile = body.get("deviceProfileName")
            ts = body.get("publishedAt")
        if not isinstance(eui, str) or not eui:
            eui = parts[3] if len(parts) > 3 and parts[2] == "device" else None
        if not isinstance(eui, str) or not eui:
            raise RejectedMessage(Reason.BAD_SHAPE, "no devEUI in the event nor its topic")
        self.dev_eui = dev_eui_hex(eui)
        self.profile = profile if isinstance(profile, str) else None
        self.ts = ts if isinstance(ts, str) and ts else None
        dedup = body.get("deduplicationId")
        if isinstance(dedup, str) and dedup:
            self.dedup: tuple[Any, ...] | None = ("d", dedup)
        elif body.get("fCnt") is not None:
            self.dedup = ("f", self.dev_eui, body.get("fCnt"), str(body.get("data"))[:256])
        else:
            self.dedup = None

    def decoded(self) -> dict[str, Any]:
        if self.v4:
            obj = self.body.get("object")
        else:
            text = self.body.get("objectJSON")
            obj = None
            if isinstance(text, str) and text:
                obj = parse_json(text.encode())
            elif isinstance(self.body.get("object"), dict):  # some v3 setups send it decoded
                obj = self.body["object"]
        if obj is None:
            raise RejectedMessage(Reason.UNMAPPED_FIELD, "the uplink has no decoded object: "
                                                         "give its device profile a codec")
        if not isinstance(obj, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "the decoded object is not a JSON object")
        return obj


class ChirpStackSource(MqttSource):
    def __init__(self, context: SourceContext, options: ChirpStackOptions) -> None:
        super().__init__(context, options, options.topics)
        self._profiles = [(p, CompiledMapping(p)) for p in options.profiles]
        self._seen: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._memory = options.dedup_memory

    def translate(self, raw: RawMessage, registry: Registry) -> list[RawMessage]:
        parts = raw.topic.split("/")
        event = parts[-1]
        if len(parts) < 5 or parts[0] != "application" or event not in (
                "up", "rx", "status", "join"):
            self._context.counters.ignored(f"event_{event[:20]}")
            return []
        uplink = _Uplink(raw.topic, self.body(raw))
        record = registry.by_external_id(uplink.dev_eui)
        if record is None:
            raise RejectedMessage(Reason.UNKNOWN_DEVICE, f"devEUI {uplink.dev_eui} is not the "
                                                         "external_id of any device")
        if event == "join":
            self._forget(uplink.dev_eui)
            return [native_status(raw, record, online=True)]
        if event == "status":
            return self._status(raw, record, uplink)
        if self._repeated(uplink):
            self._context.counters.duplicate()
            return []
        return self._up(raw, record, uplink)

    def _up(self, raw: RawMessage, record: DeviceRecord, uplink: _Uplink) -> list[RawMessage]:
        obj = uplink.decoded()
        mapping = self._mapping(record, uplink)
        mapped = mapping.apply(obj)
        if not mapped.matched:
            fields = ", ".join(sorted(obj)[:10]) or "none"
            raise RejectedMessage(Reason.UNMAPPED_FIELD, f"no field of the uplink ({fields}) is "
                                                         f"mapped for {record.device_id}")
        if not mapped.values and not mapped.events:
            self._context.counters.ignored("no_event_value")
            return []
        return native_messages(raw, record, mapped, uplink.ts, None)

    def _status(self, raw: RawMessage, record: DeviceRecord,
                uplink: _Uplink) -> list[RawMessage]:
        body = uplink.body
        level = body.get("batteryLevel")
        if (body.get("batteryLevelUnavailable") or body.get("externalPowerSource")
                or isinstance(level, bool) or not isinstance(level, int | float)):
            self._context.counters.ignored("status_without_battery")
            return []
        if BATTERY_METRIC not in spec_for(record.type).metrics:
            self._context.counters.ignored("battery_not_in_catalogue")
            return []
        return [native_telemetry(raw, record, {BATTERY_METRIC: level}, uplink.ts)]

    def _mapping(self, record: DeviceRecord, uplink: _Uplink) -> CompiledMapping:
        if uplink.profile is not None:
            for profile, compiled in self._profiles:
                if uplink.profile in profile.device_profiles:
                    return compiled
        for profile, compiled in self._profiles:
            if record.type in profile.device_types:
                return compiled
        raise RejectedMessage(Reason.UNMAPPED_FIELD, f"no profile maps device-profile "
                                                     f"{uplink.profile!r} nor type "
                                                     f"{record.type.value}")

    def _repeated(self, uplink: _Uplink) -> bool:
        key = uplink.dedup
        if key is None or self._memory == 0:
            return False
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            return True
        seen[key] = uplink.dev_eui
        if len(seen) > self._memory:
            seen.popitem(last=False)
        return False

    def _forget(self, dev_eui: str) -> None:
        stale = [key for key, eui in self._seen.items() if eui == dev_eui]
        for key in stale:
            del self._seen[key]


def build(context: SourceContext, options: ChirpStackOptions) -> ChirpStackSource:
    return ChirpStackSource(context, options)


KIND = SourceKind("chirpstack", ChirpStackOptions, build)
