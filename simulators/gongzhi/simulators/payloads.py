"""Telemetry payloads in the object form of docs/contract.md, formatted without a JSON
encoder: at 10,000 messages a second the encoder would be the simulator's bottleneck."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gongzhi.devices.catalogue import DeviceType

# Metric order and the precision a real device of the kind reports with.
METRIC_FORMATS: dict[DeviceType, tuple[tuple[str, str], ...]] = {
    DeviceType.SMOKE: (("smoke_db_m", "%.3f"), ("temp_c", "%.1f"), ("battery_pct", "%d")),
    DeviceType.WATER_PRESSURE: (("pressure_mpa", "%.4f"),),
    DeviceType.ELECTRICAL: (("residual_ma", "%.1f"), ("cable_temp_c", "%.1f"),
                            ("current_a", "%.2f"), ("voltage_v", "%.1f"), ("power_w", "%.0f")),
    DeviceType.WATER_METER: (("water_m3", "%.3f"),),
}


def telemetry_template(device_type: DeviceType) -> bytes:
    """``template % (ts, seq, *values)`` is the payload."""
    fields = ",".join(f'"{name}":{fmt}' for name, fmt in METRIC_FORMATS[device_type])
    return ('{"ts":%d,"seq":%d,"values":{' + fields + "}}").encode()


def event_payload(ts_ms: int, seq: int, event: str, detail: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"ts": ts_ms, "seq": seq, "event": event, "detail": dict(detail)})
