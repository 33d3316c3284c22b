"""What crosses from the gateway to the platform: an alarm, with a stable id and its evidence.

The gateway may deliver the same alarm many times (at-least-once through its outbox); the
platform makes exactly one ticket per ``alarm_id``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gongzhi.core.errors import RejectedMessage


class AlarmKind(StrEnum):
    """Ticket kinds of the duty matrix (docs/domain.md)."""

    FIRE = "fire"
    SMOKE_ALARM = "smoke_alarm"
    TAMPER = "tamper"
    OFFLINE_CLUSTER = "offline_cluster"
    ELECTRICAL_LEAKAGE = "electrical_leakage"
    CABLE_OVERHEAT = "cable_overheat"
    ARC_FAULT = "arc_fault"
    OVERCURRENT = "overcurrent"
    VOLTAGE_ABNORMAL = "voltage_abnormal"
    EBIKE_CHARGING = "ebike_charging"
    WATER_PRESSURE_LOW = "water_pressure_low"
    WATER_PRESSURE_HIGH = "water_pressure_high"
    WATER_PRESSURE_DROP = "water_pressure_drop"
    DEVICE_OFFLINE = "device_offline"
    LOW_BATTERY = "low_battery"
    SENSOR_FAULT = "sensor_fault"
    WATER_LEAK = "water_leak"
    WELFARE_CHECK = "welfare_check"
    # Residents' reports from a building's QR page (no device: the platform opens the ticket).
    REPORT_FIRE_EXIT = "report_fire_exit"
    REPORT_EBIKE = "report_ebike"
    REPORT_WATER_LEAK = "report_water_leak"
    REPORT_FACILITY = "report_facility"
    REPORT_CONSTRUCTION = "report_construction"
    REPORT_OTHER = "report_other"


class AlarmState(StrEnum):
    RAISE = "raise"
    CLEAR = "clear"


def alarm_id_for(device_id: str, kind: str, onset_ms: int, instance: str = "") -> str:
    """A stable id: the same condition, detected again after a restart, gets the same id.
    ``instance`` tells apart distinct alarms of one device, kind and onset (two events in one
    millisecond); empty for the first, so its id is the plain one."""
    key = f"{device_id}|{kind}|{onset_ms}" + (f"|{instance}" if instance else "")
    digest = hashlib.blake2b(key.encode(), digest_size=10)
    return f"al-{digest.hexdigest()}"


@dataclass(frozen=True, slots=True)
class Alarm:
    alarm_id: str
    kind: AlarmKind
    device_id: str
    estate_id: str
    ts_ms: int
    state: AlarmState = AlarmState.RAISE
    # The rule that fired, the values and the window: what a ticket shows as "why".
    evidence: dict[str, Any] = field(default_factory=dict)
    # Where a device-less alarm (offline_cluster) happened; devices are located by the registry.
    building: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarm_id": self.alarm_id,
            "kind": self.kind.value,
            "device_id": self.device_id,
            "estate_id": self.estate_id,
            "ts_ms": self.ts_ms,
            "state": self.state.value,
            "evidence": self.evidence,
            "building": self.building,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alarm:
        try:
            return cls(
                alarm_id=str(data["alarm_id"]),
                kind=AlarmKind(data["kind"]),
                device_id=str(data["device_id"]),
                estate_id=str(data["estate_id"]),
                ts_ms=int(data["ts_ms"]),
                state=AlarmState(data.get("state", "raise")),
                evidence=dict(data.get("evidence") or {}),
                building=data.get("building"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise RejectedMessage("bad_alarm", repr(exc)) from exc
