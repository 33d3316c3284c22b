"""What the simulation hands to a publisher: messages, and changes to a device's connection.

Kept free of paho so the simulation stays pure; ``gongzhi.simulators.publisher`` maps these onto
MQTT connections (one per device, or a few multiplexed ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

NO_DEVICE = -1  # a message on the topic of a device that is not in the estate


class Message(NamedTuple):
    device: int  # index into the layout's devices, or NO_DEVICE
    topic: str
    payload: bytes
    qos: int
    retain: bool = False


class LinkAction(StrEnum):
    # The device drops its connection without DISCONNECT: the broker publishes its last will.
    DROP = "drop"
    # The device says goodbye (DISCONNECT): no last will.
    DISCONNECT = "disconnect"
    # The device connects again (with its last will set).
    CONNECT = "connect"


@dataclass(frozen=True, slots=True)
class Link:
    device: int
    action: LinkAction


Outgoing = Message | Link

ONLINE = b"online"
OFFLINE = b"offline"


def status_topic(estate_id: str, device_id: str) -> str:
    return f"estate/{estate_id}/{device_id}/status"
