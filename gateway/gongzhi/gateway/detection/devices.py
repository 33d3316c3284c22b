"""Device slots: every registered device gets a global slot (presence, heartbeats) and a slot
within its type group (telemetry rules); alarms are built from slots here."""

from __future__ import annotations

from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState, alarm_id_for
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.detection.carry import Stateful


class DeviceIndex(Stateful):
    DERIVED = ("type_code", "local", "members", "building")

    def __init__(self, registry: Registry) -> None:
        self.records: list[DeviceRecord] = list(registry)
        self.ids = [r.device_id for r in self.records]
        self.slot = {device_id: i for i, device_id in enumerate(self.ids)}
        types = list(DeviceType)
        self.type_code = np.array([types.index(r.type) for r in self.records], np.int8)
        # Position of each device within its type group, and each group's global slots.
        self.local = np.zeros(len(self.records), np.int32)
        self.members: dict[DeviceType, np.ndarray] = {}
        for code, device_type in enumerate(types):
            members = np.flatnonzero(self.type_code == code)
            self.local[members] = np.arange(members.size, dtype=np.int32)
            self.members[device_type] = members
        keys = [(r.location.estate_id, r.location.building) for r in self.records]
        self.buildings: list[tuple[str, str]] = sorted(set(keys))
        building_slot = {key: i for i, key in enumerate(self.buildings)}
        self.building = np.array([building_slot[k] for k in keys], np.int32)

    def __len__(self) -> int:
        return len(self.records)

    def alarm(self, slot: int, kind: AlarmKind, onset_ms: int, ts_ms: int, state: AlarmState,
              evidence: dict[str, Any], *, instance: str = "") -> Alarm:
        record = self.records[slot]
        return Alarm(alarm_id=alarm_id_for(record.device_id, kind.value, onset_ms, instance),
                     kind=kind,
                     device_id=record.device_id, estate_id=record.location.estate_id,
                     ts_ms=ts_ms, state=state, evidence=evidence)
