"""``mqtt_json``: any JSON over MQTT, mapped by JSONPath to catalogue metrics and events.

Options (besides the connection: ``broker``, ``username``, ``password``, ``client_id``)::

    topics: ["vendor/+/data"]                # at least one filter
    device:                                  # who sent it: one of
      topic_regex: "^vendor/(?P<id>[^/]+)/data$"   # the group ``id`` (or the first group)
      path: $.deviceId                             # or a JSONPath in the payload
      lookup: external_id                    # external_id (default) or device_id
    ts: {path: $.time, unit: ms}             # optional: ms, s or iso; default receive time
    seq: $.counter                           # optional: a counter, for duplicate detection
    mapping: {metrics: ..., events: ...}     # gongzhi.gateway.sources.mapping

A device the registry does not know is an ``unknown_device`` dead letter naming the outside id;
a message in which no path matched is ``no_match`` naming the paths.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from gongzhi.core.config_kit import STRICT_CONFIG
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.base import (
    SourceContext,
    SourceKind,
    native_event,
    native_telemetry,
)
from gongzhi.gateway.sources.mapping import (
    CompiledMapping,
    FieldMapping,
    JsonPathText,
    Mapped,
    Path,
)
from gongzhi.gateway.sources.mqtt_transport import MqttOptions, MqttSource


class DeviceIdentity(BaseModel):
    model_config = STRICT_CONFIG

    topic_regex: str | None = None
    path: JsonPathText | None = None
    lookup: Literal["external_id", "device_id"] = "external_id"

    @field_validator("topic_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if pattern.groups == 0:
            raise ValueError("the regular expression needs a group (?P<id>...) for the device")
        return value

    @model_validator(mode="after")
    def _one(self) -> DeviceIdentity:
        if (self.topic_regex is None) == (self.path is None):
            raise ValueError("give exactly one of topic_regex or path")
        return self


class Timestamp(BaseModel):
    model_config = STRICT_CONFIG

    path: JsonPathText
    unit: Literal["ms", "s", "iso"] = "ms"


class JsonMapOptions(MqttOptions):
    topics: list[str] = Field(min_length=1)
    device: DeviceIdentity
    ts: Timestamp | None = None
    seq: JsonPathText | None = None
    mapping: FieldMapping


class DeviceFinder:
    """The registry record of a message's device, by topic regex or JSONPath."""

    def __init__(self, identity: DeviceIdentity) -> None:
        self._regex = re.compile(identity.topic_regex) if identity.topic_regex else None
        self._path = Path(identity.path) if identity.path else None
        self._by_device_id = identity.lookup == "device_id"

    def outside_id(self, topic: str, body: Any) -> str:
        if self._regex is not None:
            match = self._regex.search(topic)
            if match is None:
                raise RejectedMessage(Reason.BAD_TOPIC, f"topic does not match "
                                                        f"{self._regex.pattern!r}")
            found = match.groupdict().get("id") or match.group(1)
            if not found:
                raise RejectedMessage(Reason.BAD_TOPIC, "the device group matched nothing")
            return str(found)
        assert self._path is not None
        ok, value = self._path.first(body)
        if not ok or value is None or isinstance(value, dict | list):
            raise RejectedMessage(Reason.NO_MATCH, f"{self._path.text} matched no device id")
        return str(value)

    def record(self, registry: Registry, outside_id: str) -> DeviceRecord:
        record = registry.get(outside_id) if self._by_device_id else registry.by_external_id(
            outside_id)
        if record is None:
            what = "device_id" if self._by_device_id else "external_id"
            raise RejectedMessage(Reason.UNKNOWN_DEVICE, f"no device has {what} "
                                                         f"{outside_id[:128]!r}")
        return record


def native_messages(raw: RawMessage, record: DeviceRecord, mapped: Mapped,
                    ts: int | str | None, seq: int | None) -> list[RawMessage]:
    """The contract messages of one mapped outside message: its telemetry, then its events."""
    out = []
    if mapped.values:
        out.append(native_telemetry(raw, record, mapped.values, ts, seq))
    for event, detail in mapped.events:
        out.append(native_event(raw, record, event, detail, ts))
    return out


class JsonMapSource(MqttSource):
    def __init__(self, context: SourceContext, options: JsonMapOptions) -> None:
        super().__init__(context, options, options.topics)
        self._finder = DeviceFinder(options.device)
        self._mapping = CompiledMapping(options.mapping)
        self._ts = (Path(options.ts.path), options.ts.unit) if options.ts else None
        self._seq = Path(options.seq) if options.seq else None

    def translate(self, raw: RawMessage, registry: Registry) -> list[RawMessage]:
        body = self.body(raw)
        record = self._finder.record(registry, self._finder.outside_id(raw.topic, body))
        mapped = self._mapping.apply(body)
        if not mapped.matched:
            raise self._mapping.nothing_matched()
        if not mapped.values and not mapped.events:
            self._context.counters.ignored("no_event_value")
            return []
        return native_messages(raw, record, mapped, self._timestamp(body), self._counter(body))

    def _timestamp(self, body: Any) -> int | str | None:
        if self._ts is None:
            return None
        path, unit = self._ts
        found, value = path.first(body)
        if not found or value is None:
            return None
        if unit == "iso":
            if not isinstance(value, str):
                raise RejectedMessage(Reason.BAD_TIMESTAMP, f"{path.text} is not ISO-8601 text")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RejectedMessage(Reason.BAD_TIMESTAMP, f"{path.text} is not a number")
        try:
            return int(value * 1000) if unit == "s" else int(value)
        except (OverflowError, ValueError):
            raise RejectedMessage(Reason.BAD_TIMESTAMP, f"{path.text} is not finite") from None

    def _counter(self, body: Any) -> int | None:
        if self._seq is None:
            return None
        found, value = self._seq.first(body)
        if not found or isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None  # no usable counter: the message is still taken, without dedup
        return value


def build(context: SourceContext, options: JsonMapOptions) -> JsonMapSource:
    return JsonMapSource(context, options)


KIND = SourceKind("mqtt_json", JsonMapOptions, build)
