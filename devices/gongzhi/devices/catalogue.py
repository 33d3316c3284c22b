"""Device types, their metrics with units and physical ranges, the events they send and the
default alarm rules of docs/domain.md. Pure data: detection engines read it, nothing here runs.

A rule's threshold can be overridden per device by a registry column named in ``setting``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gongzhi.core.alarms import AlarmKind


class DeviceType(StrEnum):
    SMOKE = "smoke"
    WATER_PRESSURE = "water_pressure"
    ELECTRICAL = "electrical"
    WATER_METER = "water_meter"


class Op(StrEnum):
    ABOVE = ">="  # alarm while value >= threshold
    BELOW = "<="  # alarm while value <= threshold
    OUTSIDE = "outside"  # alarm while value < low or value > high


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    # A value outside [low, high] cannot be measured by such a sensor: the message is rejected.
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """Alarm when the value is past ``threshold`` for ``hold_ms``; clear when it is back past
    ``threshold`` by ``hysteresis`` (in the metric's unit)."""

    kind: AlarmKind
    metric: str
    op: Op
    threshold: float
    hold_ms: int
    hysteresis: float
    setting: str | None = None  # registry column that overrides ``threshold``
    # For Op.OUTSIDE: the upper bound (``threshold`` is then the lower one).
    high: float | None = None
    high_setting: str | None = None


@dataclass(frozen=True, slots=True)
class RateRule:
    """Alarm when the value falls by at least ``drop`` within ``window_ms``."""

    kind: AlarmKind
    metric: str
    drop: float
    window_ms: int
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class FlowRule:
    """A cumulative meter that never stands still: alarm when it has advanced with no pause of
    ``pause_ms`` for ``hold_ms`` (a running cistern, a dripping pipe); clear at the next pause.
    The smallest flow seen is the meter's resolution per ``pause_ms``."""

    kind: AlarmKind
    metric: str
    hold_ms: int
    pause_ms: int
    setting: str | None = None  # registry column that overrides ``hold_ms``, in hours


@dataclass(frozen=True, slots=True)
class VolumeRule:
    """A cumulative meter that advanced by at least ``volume`` within the last ``window_ms``
    (a burst pipe, a tap left open); clear when the window's volume is back under it."""

    kind: AlarmKind
    metric: str
    volume: float
    window_ms: int
    setting: str | None = None  # registry column that overrides ``volume``


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    type: DeviceType
    metrics: dict[str, Metric]
    events: frozenset[str]
    thresholds: tuple[ThresholdRule, ...] = ()
    rates: tuple[RateRule, ...] = ()
    flows: tuple[FlowRule, ...] = ()
    volumes: tuple[VolumeRule, ...] = ()
    # Expected reporting interval; offline after ``offline_after_ms`` of silence.
    report_interval_ms: int = 60_000
    offline_after_ms: int = 180_000
    settings: frozenset[str] = field(default_factory=frozenset)


# Device events (docs/contract.md) and the ticket kind each raises; None: recorded, no ticket.
EVENT_KINDS: dict[str, AlarmKind | None] = {
    "smoke_alarm": AlarmKind.SMOKE_ALARM,
    "tamper": AlarmKind.TAMPER,
    "low_battery": AlarmKind.LOW_BATTERY,
    "self_test_fail": AlarmKind.SENSOR_FAULT,
    "fault": AlarmKind.SENSOR_FAULT,
    "arc_fault": AlarmKind.ARC_FAULT,
    "silenced": None,
}

_SECOND = 1000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE

SMOKE = DeviceSpec(
    type=DeviceType.SMOKE,
    metrics={
        "smoke_db_m": Metric("smoke_db_m", "dB/m", 0.0, 20.0),
        "temp_c": Metric("temp_c", "°C", -40.0, 150.0),
        "battery_pct": Metric("battery_pct", "%", 0.0, 100.0),
    },
    events=frozenset({"smoke_alarm", "tamper", "low_battery", "self_test_fail", "fault",
                      "silenced"}),
    thresholds=(
        # GB 4715 / GB 20517: 0.2 dB/m sustained 5 s (design choice within the response range).
        ThresholdRule(AlarmKind.SMOKE_ALARM, "smoke_db_m", Op.ABOVE, 0.2, 5 * _SECOND, 0.05,
                      setting="smoke_alarm_db_m"),
        # GB 20517-2025 §5.11: low battery at <= 20 %.
        ThresholdRule(AlarmKind.LOW_BATTERY, "battery_pct", Op.BELOW, 20.0, 0, 5.0),
    ),
    # NB-IoT battery detectors report every 24 h and count as offline after 25 h.
    report_interval_ms=24 * _HOUR,
    offline_after_ms=25 * _HOUR,
    settings=frozenset({"smoke_alarm_db_m", "report_interval_s"}),
)

WATER_PRESSURE = DeviceSpec(
    type=DeviceType.WATER_PRESSURE,
    metrics={"pressure_mpa": Metric("pressure_mpa", "MPa", -0.1, 2.5)},
    events=frozenset({"tamper", "low_battery", "self_test_fail", "fault"}),
    thresholds=(
        # GB 50974 §5.2.2: static pressure at least 0.10 MPa (0.07 on high-rise residential floors).
        ThresholdRule(AlarmKind.WATER_PRESSURE_LOW, "pressure_mpa", Op.BELOW, 0.10, 30 * _SECOND,
                      0.01, setting="pressure_low_mpa"),
        ThresholdRule(AlarmKind.WATER_PRESSURE_HIGH, "pressure_mpa", Op.ABOVE, 1.0, 30 * _SECOND,
                      0.02, setting="pressure_high_mpa"),
    ),
    # A burst pipe or an opened hydrant: a fall of 0.05 MPa within 60 s (design choice).
    rates=(RateRule(AlarmKind.WATER_PRESSURE_DROP, "pressure_mpa", 0.05, _MINUTE,
                    setting="pressure_drop_mpa"),),
    report_interval_ms=10 * _SECOND,
    offline_after_ms=30 * _SECOND,
    settings=frozenset({"pressure_low_mpa", "pressure_high_mpa", "pressure_drop_mpa",
                        "report_interval_s"}),
)

ELECTRICAL = DeviceSpec(
    type=DeviceType.ELECTRICAL,
    metrics={
        "residual_ma": Metric("residual_ma", "mA", 0.0, 5000.0),
        "cable_temp_c": Metric("cable_temp_c", "°C", -40.0, 250.0),
        "current_a": Metric("current_a", "A", 0.0, 1000.0),
        "voltage_v": Metric("voltage_v", "V", 0.0, 500.0),
        "power_w": Metric("power_w", "W", -1000.0, 250_000.0),
    },
    events=frozenset({"arc_fault", "tamper", "self_test_fail", "fault"}),
    thresholds=(
        # GB 50116-2013 §9.2.3: residual current alarm at 300 mA (settable 20-1000 mA).
        ThresholdRule(AlarmKind.ELECTRICAL_LEAKAGE, "residual_ma", Op.ABOVE, 300.0, 5 * _SECOND,
                      30.0, setting="leak_alarm_ma"),
        # 70 °C on cable (settable 55-140 °C): design choice for the default.
        ThresholdRule(AlarmKind.CABLE_OVERHEAT, "cable_temp_c", Op.ABOVE, 70.0, 10 * _SECOND,
                      5.0, setting="cable_temp_alarm_c"),
        # 1.0x the breaker rating sustained 60 s (design choice); 32 A household breaker.
        ThresholdRule(AlarmKind.OVERCURRENT, "current_a", Op.ABOVE, 32.0, _MINUTE, 1.0,
                      setting="rated_current_a"),
        # GB/T 12325: 220 V -15 %/+10 % = 187-242 V, sustained 60 s.
        ThresholdRule(AlarmKind.VOLTAGE_ABNORMAL, "voltage_v", Op.OUTSIDE, 187.0, _MINUTE, 3.0,
                      setting="voltage_low_v", high=242.0, high_setting="voltage_high_v"),
    ),
    report_interval_ms=10 * _SECOND,
    offline_after_ms=30 * _SECOND,
    settings=frozenset({"leak_alarm_ma", "cable_temp_alarm_c", "rated_current_a",
                        "voltage_low_v", "voltage_high_v", "report_interval_s"}),
)

WATER_METER = DeviceSpec(
    type=DeviceType.WATER_METER,
    # A household's cold-water meter (CJ/T 224, GB/T 778): cumulative volume, 5 integer digits
    # and a resolution of 1 L.
    metrics={"water_m3": Metric("water_m3", "m³", 0.0, 99_999.999)},
    events=frozenset({"tamper", "low_battery", "fault"}),
    # Design choices: a household's use stops for a quarter of an hour many times a day; a
    # meter that has not stopped for 3 h leaks at least 4 L/h (1 L per 15 min). 1 m³ within
    # 24 h is five to ten times what one or two people use (GB/T 50331: 0.1-0.2 m³ a person).
    flows=(FlowRule(AlarmKind.WATER_LEAK, "water_m3", 3 * _HOUR, 15 * _MINUTE,
                    setting="leak_flow_hours"),),
    volumes=(VolumeRule(AlarmKind.WATER_LEAK, "water_m3", 1.0, 24 * _HOUR,
                        setting="leak_daily_m3"),),
    # An NB-IoT meter reporting every 15 min (settable); offline after four missed reports.
    report_interval_ms=15 * _MINUTE,
    offline_after_ms=_HOUR,
    settings=frozenset({"leak_flow_hours", "leak_daily_m3", "report_interval_s"}),
)

CATALOGUE: dict[DeviceType, DeviceSpec] = {
    spec.type: spec for spec in (SMOKE, WATER_PRESSURE, ELECTRICAL, WATER_METER)
}

ALL_SETTINGS: frozenset[str] = frozenset().union(*(s.settings for s in CATALOGUE.values()))


def spec_for(device_type: str) -> DeviceSpec:
    return CATALOGUE[DeviceType(device_type)]
