"""SenML JSON (RFC 8428) telemetry: a pack of records resolved into (metric, time, value) points.

Base fields (``bn``, ``bt``, ``bu``, ``bv``) apply to their record and every later one. The
metric is the last ``:``/``/`` segment of ``bn + n`` (``urn:dev:mac:0024befffe804ff1:temp_c`` →
``temp_c``). Times are seconds; a resolved time below 2**28 is relative to the receive time
(RFC 8428 §4.5.3). Only numeric values (``v``) are telemetry; units, when given, must be the
metric's catalogue unit or one convertible to it (``Pa``/``kPa``/``bar`` for MPa, ``Cel`` for °C,
``A`` for mA, ``%EL`` for %...).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import DeviceSpec
from gongzhi.gateway.reasons import Reason

RELATIVE_TIME_LIMIT_S = 2**28
MAX_RECORDS = 1000
_SEPARATORS = re.compile(r"[:/]")

# Catalogue unit → {SenML unit: factor into the catalogue unit}.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "°C": {"Cel": 1.0, "°C": 1.0},
    "MPa": {"MPa": 1.0, "kPa": 1e-3, "Pa": 1e-6, "bar": 0.1},
    "mA": {"mA": 1.0, "A": 1000.0},
    "A": {"A": 1.0, "mA": 1e-3},
    "V": {"V": 1.0, "mV": 1e-3},
    "W": {"W": 1.0, "kW": 1000.0},
    "%": {"%": 1.0, "%EL": 1.0, "/": 100.0},
    "dB/m": {"dB/m": 1.0},
}


@dataclass(frozen=True, slots=True)
class SenmlPoint:
    metric: str
    ts_ms: int
    value: float  # in the catalogue's unit


def _number(record: dict[str, Any], key: str, default: float = 0.0) -> float:
    value = record.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RejectedMessage(Reason.BAD_VALUE, f"SenML {key!r} must be a number")
    try:
        return float(value)
    except OverflowError:  # an integer past a float's range
        raise RejectedMessage(Reason.BAD_VALUE, f"SenML {key!r} is beyond any float") from None


def _string(record: dict[str, Any], key: str, default: str) -> str:
    value = record.get(key, default)
    if not isinstance(value, str):
        raise RejectedMessage(Reason.BAD_SHAPE, f"SenML {key!r} must be a string")
    return value


def _convert(spec: DeviceSpec, metric: str, value: float, unit: str | None) -> float:
    limits = spec.metrics.get(metric)
    if unit is None or limits is None:
        return value  # an unknown metric is refused by the caller's catalogue check
    factor = UNIT_FACTORS.get(limits.unit, {limits.unit: 1.0}).get(unit)
    if factor is None:
        raise RejectedMessage(Reason.BAD_UNIT, f"{metric} in {unit[:16]!r}; expected "
                                               f"{limits.unit}")
    return value * factor


def parse_senml(pack: list[Any], received_ms: int, spec: DeviceSpec) -> list[SenmlPoint]:
    if not pack:
        raise RejectedMessage(Reason.BAD_SHAPE, "empty SenML pack")
    if len(pack) > MAX_RECORDS:
        raise RejectedMessage(Reason.BAD_SHAPE, f"more than {MAX_RECORDS} SenML records")
    base_name, base_time, base_unit, base_value = "", 0.0, None, 0.0
    points: list[SenmlPoint] = []
    for record in pack:
        if not isinstance(record, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "SenML records must be objects")
        base_name = _string(record, "bn", base_name)
        base_time = _number(record, "bt", base_time)
        if "bu" in record:
            base_unit = _string(record, "bu", "")
        base_value = _number(record, "bv", base_value)
        if "v" not in record:
            raise RejectedMessage(Reason.BAD_VALUE, "only numeric SenML values ('v') are "
                                                    "telemetry")
        name = base_name + _string(record, "n", "")
        metric = _SEPARATORS.split(name)[-1]
        if not metric:
            raise RejectedMessage(Reason.BAD_SHAPE, "SenML record without a name")
        seconds = base_time + _number(record, "t")
        if not math.isfinite(seconds * 1000):  # finite seconds may still overflow in ms
            raise RejectedMessage(Reason.BAD_TIMESTAMP, "SenML time is not finite")
        if seconds < RELATIVE_TIME_LIMIT_S:
            ts_ms = received_ms + round(seconds * 1000)
        else:
            ts_ms = round(seconds * 1000)
        unit = _string(record, "u", "") if "u" in record else base_unit
        value = _convert(spec, metric, base_value + _number(record, "v"), unit)
        points.append(SenmlPoint(metric, ts_ms, value))
    return points
