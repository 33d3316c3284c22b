"""Outside fields to catalogue metrics and events: the mapping shared by the sources that carry
JSON (``chirpstack``, ``mqtt_json``).

In a sources file::

    metrics:
      pressure_mpa: {path: $.data.pressure, unit: bar}   # converted to the catalogue's MPa
      temp_c: temperature                                # a bare name is $.temperature
      battery_pct: {path: $.bat, scale: 0.1, required: true}
    events:
      - path: $.Alarm_Status
        values: {"2": smoke_alarm, "3": fault}           # other values: no event

``path`` is a JSONPath (RFC 9535, python-jsonpath); the first match is used. A metric whose path
matches nothing is skipped, unless ``required`` (then the message is a ``no_match`` dead letter
naming the path); a message in which nothing matched at all is a ``no_match`` dead letter naming
every path tried. A value that is not a number (a numeric string is taken) is ``bad_value``.
``scale`` and ``offset`` apply first (raw * scale + offset), then ``unit`` converts to the
catalogue unit (``UNITS``); the catalogue's physical range is checked afterwards, by the decoder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jsonpath
from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from gongzhi.core.config_kit import STRICT_CONFIG
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import CATALOGUE, EVENT_KINDS
from gongzhi.gateway.reasons import Reason

Convert = Callable[[float], float]

# ft per m: obscuration per foot to per metre.
_FT = 0.3048


def _obscuration_per_ft(percent: float) -> float:
    """Smoke obscuration in %/ft to optical density in dB/m."""
    if not 0 <= percent < 100:
        raise ValueError(f"{percent:g} %/ft is not an obscuration (0 to under 100)")
    return -10 * math.log10(1 - percent / 100) / _FT


def _obscuration_per_m(percent: float) -> float:
    if not 0 <= percent < 100:
        raise ValueError(f"{percent:g} %/m is not an obscuration (0 to under 100)")
    return -10 * math.log10(1 - percent / 100)


def _scale(factor: float) -> Convert:
    return lambda value: value * factor


# Catalogue unit -> the outside units converted to it.
UNITS: dict[str, dict[str, Convert]] = {
    "MPa": {"MPa": _scale(1), "kPa": _scale(1e-3), "Pa": _scale(1e-6), "bar": _scale(0.1),
            "mbar": _scale(1e-4), "psi": _scale(0.006894757293168361),
            "mH2O": _scale(0.00980665)},
    "°C": {"°C": _scale(1), "C": _scale(1), "°F": lambda f: (f - 32) * 5 / 9,
           "F": lambda f: (f - 32) * 5 / 9, "K": lambda k: k - 273.15},
    "dB/m": {"dB/m": _scale(1), "%/ft": _obscuration_per_ft, "%/m": _obscuration_per_m},
    "%": {"%": _scale(1), "ratio": _scale(100), "‰": _scale(0.1)},
    "mA": {"mA": _scale(1), "A": _scale(1e3), "uA": _scale(1e-3), "µA": _scale(1e-3)},
    "A": {"A": _scale(1), "mA": _scale(1e-3), "kA": _scale(1e3)},
    "V": {"V": _scale(1), "mV": _scale(1e-3), "kV": _scale(1e3)},
    "W": {"W": _scale(1), "kW": _scale(1e3), "mW": _scale(1e-3)},
    "m³": {"m³": _scale(1), "m3": _scale(1), "L": _scale(1e-3), "l": _scale(1e-3),
           "gal": _scale(0.003785411784)},
}

# Metric name -> its unit in the catalogue (a name means the same in every device type).
METRIC_UNITS: dict[str, str] = {name: metric.unit for spec in CATALOGUE.values()
                                for name, metric in spec.metrics.items()}

_SIMPLE = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*)+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Path:
    """A compiled JSONPath; plain ``$.a.b`` paths are walked directly (the common case, and
    several times faster)."""

    __slots__ = ("_compiled", "_keys", "field", "text")

    def __init__(self, text: str) -> None:
        text = text.strip()
        if _NAME.fullmatch(text):
            text = f"$.{text}"
        elif not text.startswith("$"):
            text = "$." + text
        self.text = text
        self._keys: tuple[str, ...] | None = None
        self.field: str | None = None  # a top-level field's name, for callers' fast paths
        self._compiled: jsonpath.JSONPath | jsonpath.CompoundJSONPath | None = None
        if _SIMPLE.fullmatch(text):
            self._keys = tuple(text[2:].split("."))
            if len(self._keys) == 1:
                self.field = self._keys[0]
        else:
            try:
                self._compiled = jsonpath.compile(text)
            except jsonpath.JSONPathError as exc:
                raise ValueError(f"not a JSONPath: {text!r} ({str(exc).splitlines()[0]})") \
                    from None

    def first(self, data: Any) -> tuple[bool, Any]:
        """(found, value) of the first match in ``data``."""
        keys = self._keys
        if keys is not None:
            if len(keys) == 1:  # a top-level field: the usual case
                if type(data) is dict and keys[0] in data:
                    return True, data[keys[0]]
                return False, None
            node = data
            for key in keys:
                if not isinstance(node, dict) or key not in node:
                    return False, None
                node = node[key]
            return True, node
        assert self._compiled is not None
        match = self._compiled.match(data)
        return (False, None) if match is None else (True, match.obj)

    def __repr__(self) -> str:
        return self.text


def _check_path(value: str) -> str:
    Path(value)
    return value


#: A JSONPath checked when the file is read (``Path``'s syntax: a bare name is a top field).
JsonPathText = Annotated[str, AfterValidator(_check_path)]


class MetricMap(BaseModel):
    model_config = STRICT_CONFIG

    path: JsonPathText
    unit: str | None = None  # the outside unit; None: already the catalogue's
    scale: float = 1.0
    offset: float = 0.0
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


def _key(value: Any) -> str:
    """An outside value as a value-map key: true/false, integral numbers without ``.0``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class EventMap(BaseModel):
    model_config = STRICT_CONFIG

    path: JsonPathText
    values: dict[str, str] = Field(min_length=1)  # outside value -> event name
    required: bool = False

    @field_validator("values", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return {_key(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("values")
    @classmethod
    def _events(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({v for v in value.values() if v not in EVENT_KINDS})
        if unknown:
            raise ValueError(f"unknown event(s) {', '.join(unknown)} (expected one of "
                             f"{', '.join(sorted(EVENT_KINDS))})")
        return value


class FieldMapping(BaseModel):
    """Metrics by catalogue name and events by value; see the module docstring."""

    model_config = STRICT_CONFIG

    metrics: dict[str, MetricMap] = Field(default_factory=dict)
    events: list[EventMap] = Field(default_factory=list)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, MetricMap]) -> dict[str, MetricMap]:
        for name, spec in value.items():
            unit = METRIC_UNITS.get(name)
            if unit is None:
                raise ValueError(f"{name!r} is not a catalogue metric (expected one of "
                                 f"{', '.join(sorted(METRIC_UNITS))})")
            known = UNITS.get(unit, {unit: _scale(1)})
            if spec.unit is not None and spec.unit not in known:
                raise ValueError(f"{name}: no conversion from {spec.unit!r} to {unit} (known: "
                                 f"{', '.join(known)})")
        return value

    @model_validator(mode="after")
    def _something(self) -> FieldMapping:
        if not self.metrics and not self.events:
            raise ValueError("a mapping needs at least one metric or event")
        return self


@dataclass(frozen=True, slots=True)
class _Metric:
    name: str
    path: Path
    convert: Convert | None
    scale: float
    offset: float
    required: bool


@dataclass(frozen=True, slots=True)
class _Event:
    path: Path
    values: dict[str, str]
    required: bool


@dataclass(frozen=True, slots=True)
class Mapped:
    """What a mapping found in one document."""

    values: dict[str, float]
    events: list[tuple[str, dict[str, Any]]]  # (event, detail)
    matched: bool  # some path matched (an event value outside ``values`` counts)


class CompiledMapping:
    """A ``FieldMapping`` ready to apply (paths compiled, conversions looked up)."""

    def __init__(self, mapping: FieldMapping) -> None:
        self._metrics = [
            _Metric(name, Path(m.path),
                    None if m.unit is None or m.unit == METRIC_UNITS[name]
                    else UNITS[METRIC_UNITS[name]][m.unit],
                    m.scale, m.offset, m.required)
            for name, m in mapping.metrics.items()]
        self._events = [_Event(Path(e.path), dict(e.values), e.required)
                        for e in mapping.events]
        self.paths = [m.path.text for m in self._metrics] + [e.path.text for e in self._events]

    def apply(self, data: Any) -> Mapped:
        """The metrics and events in ``data``; raises ``RejectedMessage`` (``no_match`` for a
        required path, ``bad_value``) as the module docstring says. Whether nothing matched at
        all is the caller's to judge (``matched``; ``nothing_matched()``)."""
        values: dict[str, float] = {}
        events: list[tuple[str, dict[str, Any]]] = []
        matched = False
        flat = type(data) is dict
        for metric in self._metrics:
            field = metric.path.field
            if flat and field is not None:  # the usual case, without a call
                raw = data.get(field)
                if (raw.__class__ is float or raw.__class__ is int) and metric.convert is None:
                    value = raw * metric.scale + metric.offset
                    if math.isfinite(value):
                        values[metric.name] = float(value)
                        matched = True
                        continue
                found = field in data
            else:
                found, raw = metric.path.first(data)
            if not found or raw is None:
                if metric.required:
                    raise RejectedMessage(Reason.NO_MATCH, f"{metric.path.text} matched nothing "
                                                           f"(metric {metric.name})")
                continue
            matched = True
            values[metric.name] = _number(metric, raw)
        for event in self._events:
            found, raw = event.path.first(data)
            if not found or raw is None:
                if event.required:
                    raise RejectedMessage(Reason.NO_MATCH, f"{event.path.text} matched nothing")
                continue
            matched = True
            name = event.values.get(_key(raw))
            if name is not None:
                detail_value = raw if isinstance(raw, bool | int | float) else str(raw)[:200]
                events.append((name, {"field": event.path.text, "value": detail_value}))
        return Mapped(values, events, matched)

    def nothing_matched(self) -> RejectedMessage:
        return RejectedMessage(Reason.NO_MATCH, f"none of {', '.join(self.paths)} matched")


def _number(metric: _Metric, raw: Any) -> float:
    kind = type(raw)
    if (kind is float or kind is int) and metric.convert is None:  # the usual case
        value = raw * metric.scale + metric.offset
        if math.isfinite(value):
            return float(value)
    if isinstance(raw, bool):
        raise RejectedMessage(Reason.BAD_VALUE, f"{metric.path.text} is {raw!r}, not a number")
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raise RejectedMessage(Reason.BAD_VALUE, f"{metric.path.text} is {raw[:40]!r}, not a "
                                                    "number") from None
    if not isinstance(raw, int | float):
        raise RejectedMessage(Reason.BAD_VALUE, f"{metric.path.text} is a "
                                                f"{type(raw).__name__}, not a number")
    try:
        value = float(raw) * metric.scale + metric.offset
        if metric.convert is not None:
            value = metric.convert(value)
    except (ValueError, OverflowError) as exc:
        raise RejectedMessage(Reason.BAD_VALUE, f"{metric.path.text}: {exc}") from None
    if not math.isfinite(value):
        raise RejectedMessage(Reason.NON_FINITE, f"{metric.path.text} is not finite")
    return value
