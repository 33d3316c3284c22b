"""Pure decoding of device messages (docs/contract.md) into frozen domain messages.

Topic ``estate/<estate_id>/<device_id>/<channel>``; channels ``telemetry``, ``event``, ``status``.
Telemetry comes in three forms: the object form ``{"ts", "seq", "values": {...}}``, the flat form
``{"ts", "seq", "<metric>": number, ...}`` and SenML JSON (RFC 8428, an array of records).

Everything that cannot be used raises ``RejectedMessage`` with one of the ``Reason`` values.

An event's ``detail`` is copied into the alarm's evidence and travels through the outbox to the
platform, so it must be plain, small data: at most ``MAX_DETAIL_DEPTH`` levels of objects and
arrays, ``MAX_DETAIL_ITEMS`` keys and elements in all, ``MAX_DETAIL_BYTES`` of JSON, strings of
valid Unicode without NUL (a lone surrogate cannot be encoded as UTF-8; PostgreSQL refuses NUL),
integers within a double's exact range and finite numbers. A detail that is anything else is
dropped here, before it could fail a store further on: the event itself is kept (a smoke alarm
must not be lost to a malformed note) with ``dropped_detail`` saying why, and the pipeline keeps
the raw message as a ``bad_detail`` dead letter as well.

Clock-skew rule: a device timestamp more than ``max_future_skew_ms`` (default 5 min) ahead of
the receive time is rejected (``future_timestamp``); one ahead by less is clamped to the receive
time (a device clock running a little fast must not put points in the future) and counted in
``Decoder.clock_corrected``. Timestamps in the past are kept as they are: devices buffer while
offline and deliver late. Numbers below 2000-01-01 in milliseconds are refused as
``bad_timestamp`` (most likely epoch seconds).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from gongzhi.core.config_kit import ID_PATTERN, ID_RULE
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import CATALOGUE, DeviceSpec, DeviceType, spec_for
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.messages import (
    DeviceEvent,
    DeviceMessage,
    Presence,
    RawMessage,
    StatusChange,
    Telemetry,
)
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.senml import parse_senml

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_FUTURE_SKEW_MS = 5 * 60_000
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_SEQ = 2**63 - 1
OBJECT_KEYS = frozenset({"ts", "seq", "values"})
EVENT_KEYS = frozenset({"ts", "seq", "event", "detail"})
MAX_DETAIL_DEPTH = 4  # the detail object itself is level 1
MAX_DETAIL_ITEMS = 256
MAX_DETAIL_BYTES = 4096
MAX_DETAIL_TEXT = 1024
MAX_EXACT_INT = 2**53 - 1  # what every JSON reader (a browser's too) keeps exact


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


def parse_topic(topic: str) -> tuple[str, str, Channel]:
    """``estate/<estate>/<device>/<channel>`` into (estate_id, device_id, channel)."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "estate":
        raise RejectedMessage(Reason.BAD_TOPIC, f"expected estate/<estate>/<device>/<channel>, "
                                                f"got {topic[:200]!r}")
    _, estate_id, device_id, channel = parts
    if not ID_PATTERN.fullmatch(estate_id) or not ID_PATTERN.fullmatch(device_id):
        raise RejectedMessage(Reason.BAD_TOPIC, f"ids must be {ID_RULE}")
    try:
        return estate_id, device_id, Channel(channel)
    except ValueError:
        raise RejectedMessage(Reason.BAD_TOPIC, f"unknown channel {channel[:64]!r}") from None


def parse_json(payload: bytes) -> Any:
    """orjson first (fast); the standard parser as a fallback only to tell a NaN or Infinity
    literal (a ``non_finite`` value) from text that is not JSON at all."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        raise RejectedMessage(Reason.NOT_JSON, "payload is not JSON") from None


def parse_ts(value: Any, received_ms: int) -> int:
    """A device timestamp (epoch ms or ISO-8601 with offset) in epoch ms; absent: receive time."""
    if value is None:
        return received_ms
    if isinstance(value, bool):
        raise RejectedMessage(Reason.BAD_TIMESTAMP, "ts must be epoch ms or ISO-8601")
    if isinstance(value, int | float):
        # An int of any size is fine (a huge one is refused as in the future); only a float can
        # be non-finite (math.isfinite would overflow on an int past a float's range).
        if isinstance(value, float) and not math.isfinite(value):
            raise RejectedMessage(Reason.BAD_TIMESTAMP, "ts is not finite")
        ts = int(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise RejectedMessage(Reason.BAD_TIMESTAMP, f"not ISO-8601: {value[:64]!r}") from None
        if moment.tzinfo is None:
            raise RejectedMessage(Reason.BAD_TIMESTAMP, "ISO-8601 ts needs an offset or Z")
        ts = int(moment.timestamp() * 1000)
    else:
        raise RejectedMessage(Reason.BAD_TIMESTAMP, "ts must be epoch ms or ISO-8601")
    if ts < MIN_TS_MS:
        raise RejectedMessage(Reason.BAD_TIMESTAMP,
                              f"ts {ts} is before 2000-01-01 in epoch ms (epoch seconds sent?)")
    return ts


def parse_seq(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise RejectedMessage(Reason.BAD_SEQ, "seq must be a non-negative integer")
    return value


def check_value(spec: DeviceSpec, metric: str, value: Any) -> float:
    """A metric's value, checked against the catalogue: known metric, number, finite, in range."""
    limits = spec.metrics.get(metric)
    if limits is None:
        raise RejectedMessage(Reason.UNKNOWN_METRIC,
                              f"{metric[:64]!r} is not a metric of {spec.type.value} devices")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RejectedMessage(Reason.BAD_VALUE, f"{metric} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer past a float's range (the JSON parser keeps it exact)
        raise RejectedMessage(Reason.OUT_OF_RANGE, f"{metric} is beyond any float") from None
    if not math.isfinite(number):
        raise RejectedMessage(Reason.NON_FINITE, f"{metric} is {value}")
    if not limits.low <= number <= limits.high:
        raise RejectedMessage(Reason.OUT_OF_RANGE, f"{metric}={number:g} outside [{limits.low:g}, "
                                                   f"{limits.high:g}] {limits.unit}")
    return number


def check_text(value: str, where: str) -> str:
    """A string that every store can hold: valid Unicode (no lone surrogate), no NUL."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RejectedMessage(Reason.BAD_DETAIL, f"{where}: a lone surrogate is not "
                                                     "text") from None
    if "\x00" in value:
        raise RejectedMessage(Reason.BAD_DETAIL, f"{where}: NUL in a string")
    if len(value) > MAX_DETAIL_TEXT:
        raise RejectedMessage(Reason.BAD_DETAIL, f"{where}: a string over {MAX_DETAIL_TEXT} "
                                                 "characters")
    return value


def check_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """An event's ``detail``, checked to be plain data that serialises within the bounds (see
    the module's docstring); returned as it is."""
    items = 0
    pending: list[tuple[Any, int]] = [(detail, 1)]
    while pending:  # iterative: a deep value must not cost a deep Python stack
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, "detail")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
                raise RejectedMessage(Reason.BAD_DETAIL, "detail: an integer beyond 2**53")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise RejectedMessage(Reason.NON_FINITE, "detail: a NaN or infinite number")
        elif isinstance(value, dict | list):
            if depth > MAX_DETAIL_DEPTH:
                raise RejectedMessage(Reason.BAD_DETAIL, f"detail nested deeper than "
                                                         f"{MAX_DETAIL_DEPTH} levels")
            items += len(value)
            if items > MAX_DETAIL_ITEMS:
                raise RejectedMessage(Reason.BAD_DETAIL, f"detail has more than "
                                                         f"{MAX_DETAIL_ITEMS} keys and elements")
            if isinstance(value, dict):
                for key in value:
                    check_text(key, "detail key")
                pending.extend((v, depth + 1) for v in value.values())
            else:
                pending.extend((v, depth + 1) for v in value)
        else:  # nothing else comes out of a JSON parser; refuse rather than guess
            raise RejectedMessage(Reason.BAD_DETAIL, f"detail: a {type(value).__name__}")
    size = len(orjson.dumps(detail))
    if size > MAX_DETAIL_BYTES:
        raise RejectedMessage(Reason.BAD_DETAIL, f"detail is {size} bytes of JSON > "
                                                 f"{MAX_DETAIL_BYTES}")
    return detail


_CHANNELS = {channel.value: channel for channel in Channel}
# Per device type: metric → (low, high) of the catalogue.
_LIMITS: dict[DeviceType, dict[str, tuple[float, float]]] = {
    device_type: {name: (m.low, m.high) for name, m in spec.metrics.items()}
    for device_type, spec in CATALOGUE.items()
}


class Decoder:
    """Turns a ``RawMessage`` into domain messages against the current registry.

    No I/O; ``clock_corrected`` counts timestamps clamped by the clock-skew rule."""

    def __init__(self, registry: Registry, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES,
                 max_future_skew_ms: int = MAX_FUTURE_SKEW_MS) -> None:
        self.registry = registry
        self.max_payload_bytes = max_payload_bytes
        self.max_future_skew_ms = max_future_skew_ms
        self.clock_corrected = 0

    def decode(self, raw: RawMessage) -> list[DeviceMessage]:
        if len(raw.payload) > self.max_payload_bytes:
            raise RejectedMessage(Reason.PAYLOAD_TOO_LARGE,
                                  f"{len(raw.payload)} bytes > {self.max_payload_bytes}")
        parts = raw.topic.split("/")
        record = self.registry.get(parts[2]) if len(parts) == 4 else None
        channel = _CHANNELS.get(parts[-1])
        if record is None or channel is None or parts[0] != "estate":
            # Slow path, for the precise reason: ids of registered devices are valid already.
            estate_id, device_id, channel = parse_topic(raw.topic)
            raise RejectedMessage(Reason.UNKNOWN_DEVICE, f"{device_id} is not in the registry")
        estate_id = parts[1]
        if record.estate_id != estate_id:
            parse_topic(raw.topic)  # a malformed estate id is a bad topic first
            raise RejectedMessage(Reason.ESTATE_MISMATCH, f"{record.device_id} belongs to "
                                                          f"{record.estate_id}, not {estate_id}")
        if channel is Channel.STATUS:
            return self._status(record, raw)
        body = parse_json(raw.payload)
        if channel is Channel.EVENT:
            return [self._event(record, raw, body)]
        if isinstance(body, list):
            return self._senml(record, raw, body)
        return [self._telemetry(record, raw, body)]

    def _checked_ts(self, value: Any, received_ms: int) -> int:
        ts = parse_ts(value, received_ms)
        ahead = ts - received_ms
        if ahead > self.max_future_skew_ms:
            # Integer seconds: a JSON integer may be far beyond a float's range.
            when = f"{ahead // 1000} s" if ahead < 10**13 else "centuries"
            raise RejectedMessage(Reason.FUTURE_TIMESTAMP, f"ts is {when} ahead of the receive "
                                                           "time")
        if ahead > 0:
            self.clock_corrected += 1
            return received_ms
        return ts

    def _telemetry(self, record: DeviceRecord, raw: RawMessage, body: Any) -> Telemetry:
        if not isinstance(body, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "telemetry must be a JSON object or a SenML "
                                                    "array")
        if "values" in body:
            extra = body.keys() - OBJECT_KEYS
            if extra:
                raise RejectedMessage(Reason.BAD_SHAPE,
                                      f"unexpected keys {sorted(extra)[:5]} beside 'values'")
            raw_values = body["values"]
            if not isinstance(raw_values, dict):
                raise RejectedMessage(Reason.BAD_SHAPE, "'values' must be an object")
        else:
            raw_values = {k: v for k, v in body.items() if k != "ts" and k != "seq"}
        if not raw_values:
            raise RejectedMessage(Reason.BAD_SHAPE, "no values")
        limits = _LIMITS[record.type]
        values: dict[str, float] = {}
        for name, value in raw_values.items():
            bounds = limits.get(name)
            # Fast path for the common case; anything else gets check_value's precise reason
            # (a NaN fails the comparison too).
            if (bounds is not None and (type(value) is float or type(value) is int)
                    and bounds[0] <= value <= bounds[1]):
                values[name] = float(value)
            else:
                values[name] = check_value(spec_for(record.type), name, value)
        return Telemetry(
            device_id=record.device_id, estate_id=record.estate_id, device_type=record.type,
            ts_ms=self._checked_ts(body.get("ts"), raw.received_ms), values=values,
            received_ms=raw.received_ms, seq=parse_seq(body.get("seq")),
            device_clock=body.get("ts") is not None,
        )

    def _senml(self, record: DeviceRecord, raw: RawMessage, pack: list[Any]) -> list[
            DeviceMessage]:
        spec = spec_for(record.type)
        by_ts: dict[int, dict[str, float]] = {}
        for point in parse_senml(pack, raw.received_ms, spec):
            ts = self._checked_ts(point.ts_ms, raw.received_ms)
            by_ts.setdefault(ts, {})[point.metric] = check_value(spec, point.metric, point.value)
        return [Telemetry(device_id=record.device_id, estate_id=record.estate_id,
                          device_type=record.type, ts_ms=ts, values=values,
                          received_ms=raw.received_ms)
                for ts, values in by_ts.items()]

    def _event(self, record: DeviceRecord, raw: RawMessage, body: Any) -> DeviceEvent:
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise RejectedMessage(Reason.BAD_SHAPE, 'an event is {"event": "<name>", ...}')
        extra = body.keys() - EVENT_KEYS
        if extra:
            raise RejectedMessage(Reason.BAD_SHAPE, f"unexpected keys {sorted(extra)[:5]}")
        spec = spec_for(record.type)
        name = body["event"]
        if name not in spec.events:
            raise RejectedMessage(Reason.UNKNOWN_EVENT,
                                  f"{name[:64]!r} is not an event of {record.type.value} devices")
        detail = body.get("detail") or {}
        if not isinstance(detail, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "'detail' must be an object")
        dropped: str | None = None
        try:
            check_detail(detail)
        except RejectedMessage as exc:
            # A safety event outweighs its note: keep the event, drop only the detail.
            detail, dropped = {}, exc.detail
        return DeviceEvent(
            device_id=record.device_id, estate_id=record.estate_id, device_type=record.type,
            ts_ms=self._checked_ts(body.get("ts"), raw.received_ms), event=name,
            detail=detail, received_ms=raw.received_ms, seq=parse_seq(body.get("seq")),
            device_clock=body.get("ts") is not None, dropped_detail=dropped,
        )

    def _status(self, record: DeviceRecord, raw: RawMessage) -> list[DeviceMessage]:
        if not raw.payload:
            return []  # a retained status being cleared: nothing happened to the device
        try:
            text = raw.payload.decode("utf-8").strip().strip('"').lower()
            presence = Presence(text)
        except (UnicodeDecodeError, ValueError):
            raise RejectedMessage(Reason.BAD_STATUS, "status must be 'online' or 'offline'") \
                from None
        return [StatusChange(device_id=record.device_id, estate_id=record.estate_id,
                             device_type=record.type, presence=presence,
                             received_ms=raw.received_ms)]

