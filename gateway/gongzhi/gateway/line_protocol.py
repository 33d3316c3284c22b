"""Telemetry as InfluxDB line protocol (millisecond precision).

One line per message: measurement ``telemetry``; tags ``estate``, ``building``, ``device``,
``type``; one float field per metric. Example::

    telemetry,estate=e1,building=b3,device=w17,type=water_pressure pressure_mpa=0.31 1767225600000
"""

from __future__ import annotations

from collections.abc import Sequence

from gongzhi.devices.registry import Registry
from gongzhi.gateway.messages import Telemetry

MEASUREMENT = "telemetry"
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\", "\n": " "})


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def to_lines(batch: Sequence[Telemetry], registry: Registry) -> tuple[bytes, int]:
    """The batch as line protocol, and its number of points (fields)."""
    lines: list[str] = []
    points = 0
    buildings: dict[str, str] = {}
    for m in batch:
        building = buildings.get(m.device_id)
        if building is None:
            record = registry.get(m.device_id)
            building = escape_tag(record.location.building) if record is not None else ""
            buildings[m.device_id] = building
        tags = f"{MEASUREMENT},estate={m.estate_id}"
        if building:
            tags += f",building={building}"
        fields = ",".join(f"{escape_tag(k)}={float(v)!r}" for k, v in m.values.items())
        lines.append(f"{tags},device={m.device_id},type={m.device_type.value} {fields} {m.ts_ms}")
        points += len(m.values)
    return "\n".join(lines).encode(), points
