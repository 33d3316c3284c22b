"""Builders for detection tests: small registries and messages with explicit device times.

A module of its own (not conftest) so that tests import it by a name no other folder uses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location
from gongzhi.gateway.messages import DeviceEvent, Presence, StatusChange, Telemetry

T0 = 1_767_225_600_000


def record(device_id: str, device_type: str, *, building: str = "b1", floor: str = "3",
           unit: str = "1", room: str = "301", riser: str | None = None,
           household: str | None = None, position: str | None = None,
           **settings: float) -> DeviceRecord:
    return DeviceRecord(device_id=device_id, type=DeviceType(device_type),
                        location=Location("e1", building, unit, floor, room),
                        settings=dict(settings), riser=riser, household=household,
                        position=position)


def telemetry(device: DeviceRecord, t_s: float, values: Mapping[str, float],
              received_s: float | None = None) -> Telemetry:
    ts = T0 + round(t_s * 1000)
    rx = ts if received_s is None else T0 + round(received_s * 1000)
    return Telemetry(device.device_id, "e1", device.type, ts, dict(values), rx)


def event(device: DeviceRecord, t_s: float, name: str, **detail: Any) -> DeviceEvent:
    ts = T0 + round(t_s * 1000)
    return DeviceEvent(device.device_id, "e1", device.type, ts, name, detail, ts)


def status(device: DeviceRecord, t_s: float, online: bool) -> StatusChange:
    return StatusChange(device.device_id, "e1", device.type,
                        Presence.ONLINE if online else Presence.OFFLINE, T0 + round(t_s * 1000))


def run_stream(engine: Any, messages: list[Any], batch: int = 500) -> list[Any]:
    """Feed messages in batches (equivalent to one by one) and collect the alarms."""
    alarms = []
    for start in range(0, len(messages), batch):
        alarms += engine.process(messages[start:start + batch])
    return alarms


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a file of one per line (``gongzhi backtest``'s ALARMS.jsonl)."""
    return [json.loads(line) for line in path.read_text().splitlines()]
