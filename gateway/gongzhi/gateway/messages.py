"""Decoded device messages: what crosses from the MQTT transport into the domain.

Frozen and transport-free: detection, storage and the dead-letter store see only these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gongzhi.devices.catalogue import DeviceType


@dataclass(frozen=True, slots=True)
class RawMessage:
    """What paho hands over, untouched. ``mid`` lets the transport acknowledge it (QoS 1) only
    once the message is safely processed; ``generation`` names the connection it came on (a
    packet id means nothing on a later connection, so such a message is not acknowledged there:
    the persistent session redelivers it). ``source`` is empty for our own MQTT contract, else
    the id of the outside source (``gongzhi.gateway.sources``) that took the message: the
    message is then in that source's format, translated by it, and acknowledged through it."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int = 0
    qos: int = 0
    generation: int = 0
    source: str = ""


@dataclass(frozen=True, slots=True)
class Telemetry:
    device_id: str
    estate_id: str
    device_type: DeviceType
    ts_ms: int  # device time, corrected per the clock-skew rule
    values: Mapping[str, float]
    received_ms: int
    seq: int | None = None
    # False when the device sent no timestamp and ``ts_ms`` is the receive time.
    device_clock: bool = True


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    device_id: str
    estate_id: str
    device_type: DeviceType
    ts_ms: int
    event: str
    detail: Mapping[str, Any]
    received_ms: int
    seq: int | None = None
    device_clock: bool = True
    # Why the device's own ``detail`` was dropped (the event itself is kept: a smoke alarm must
    # not be lost to a malformed note); the pipeline keeps the message as a dead letter too.
    dropped_detail: str | None = None


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class StatusChange:
    device_id: str
    estate_id: str
    device_type: DeviceType
    presence: Presence
    received_ms: int


DeviceMessage = Telemetry | DeviceEvent | StatusChange


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be used, kept with its reason."""

    topic: str
    payload: bytes  # truncated to a bound by the store
    received_ms: int
    reason: str
    detail: str
