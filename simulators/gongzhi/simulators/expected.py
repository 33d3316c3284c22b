"""The ticket a fault should produce under the default duty matrix of docs/domain.md.

Written out here on purpose rather than read from the platform's matrix file: the ground truth is
an independent statement of what the domain rules say, against which the platform is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from gongzhi.core.alarms import AlarmKind

_ELDERLY = "residents_committee"


@dataclass(frozen=True, slots=True)
class ExpectedTicket:
    kind: AlarmKind
    severity: str
    assignee: str
    notified: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "severity": self.severity, "assignee": self.assignee,
                "notified": list(self.notified)}


# kind: (severity, assignee, always notified, notify residents_committee when elderly-alone)
_MATRIX: dict[AlarmKind, tuple[str, str, tuple[str, ...], bool]] = {
    AlarmKind.FIRE: ("critical", "property_office", ("police_room", "party_committee"), True),
    AlarmKind.SMOKE_ALARM: ("critical", "property_office", (), True),
    AlarmKind.TAMPER: ("major", "police_room", ("property_office",), False),
    AlarmKind.OFFLINE_CLUSTER: ("major", "police_room", ("property_office",), False),
    AlarmKind.ELECTRICAL_LEAKAGE: ("major", "property_office", (), False),
    AlarmKind.CABLE_OVERHEAT: ("major", "property_office", (), False),
    AlarmKind.ARC_FAULT: ("major", "property_office", (), False),
    AlarmKind.OVERCURRENT: ("major", "property_office", (), False),
    AlarmKind.VOLTAGE_ABNORMAL: ("major", "property_office", (), False),
    AlarmKind.EBIKE_CHARGING: ("major", "property_office", (), False),
    AlarmKind.WATER_PRESSURE_LOW: ("major", "property_office", (), False),
    AlarmKind.WATER_PRESSURE_HIGH: ("major", "property_office", (), False),
    AlarmKind.WATER_PRESSURE_DROP: ("major", "property_office", (), False),
    AlarmKind.DEVICE_OFFLINE: ("minor", "property_office", (), False),
    AlarmKind.LOW_BATTERY: ("minor", "property_office", (), False),
    AlarmKind.SENSOR_FAULT: ("minor", "property_office", (), False),
    AlarmKind.WATER_LEAK: ("major", "property_office", (), True),
    AlarmKind.WELFARE_CHECK: ("major", "residents_committee", (), False),
}


def expected_ticket(kind: AlarmKind, elderly_alone: bool) -> ExpectedTicket:
    """The first occurrence's routing (repeat-based notifications, e.g. the owners' committee on
    a riser's third fault in 30 days, depend on history and are not part of one fault)."""
    severity, assignee, notified, elderly_rule = _MATRIX[kind]
    if elderly_rule and elderly_alone:
        notified = (*notified, _ELDERLY)
    return ExpectedTicket(kind, severity, assignee, tuple(sorted(notified)))
