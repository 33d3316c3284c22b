"""A push profile: how a product's outside field names become catalogue metrics and events.

In a CTWing or OneNET source's options::

    profile:
      metrics:                       # outside field -> metric (value * scale + offset)
        Battery_Level: battery_pct
        TData: {metric: temp_c, scale: 1, offset: 0}
      events:                        # outside field (or reported event) and its value -> event
        Alarm_Status: {"2": smoke_alarm, "4": low_battery, "5": tamper}
        "1002": low_battery          # a reported event by name (CTWing serviceId): any value
      ignore: [RSRP, SNR, CSQ, IMEI] # known fields that carry nothing to keep (not counted)

A field of a report that is neither mapped nor ignored is counted as ignored (``unmapped``);
a report of which nothing maps is refused (``bad_shape``, naming its fields), so a profile that
does not fit the product shows in the dead letters at once rather than as silence.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from gongzhi.core.config_kit import STRICT_CONFIG
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import CATALOGUE, EVENT_KINDS
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.http_push_uplink import Uplink

_METRICS = frozenset(name for spec in CATALOGUE.values() for name in spec.metrics)


def _metric_name(value: str) -> str:
    if value not in _METRICS:
        raise ValueError(f"{value!r} is not a catalogue metric (known: "
                         f"{', '.join(sorted(_METRICS))})")
    return value


def _event_name(value: Any) -> Any:
    if isinstance(value, str) and value not in EVENT_KINDS:
        raise ValueError(f"{value!r} is not a catalogue event (known: "
                         f"{', '.join(sorted(EVENT_KINDS))})")
    return value


class MetricRule(BaseModel):
    model_config = STRICT_CONFIG

    metric: Annotated[str, BeforeValidator(_metric_name)]
    scale: float = 1.0
    offset: float = 0.0


def _metric_rule(value: Any) -> Any:
    return {"metric": value} if isinstance(value, str) else value


EventName = Annotated[str, BeforeValidator(_event_name)]


def _event_values(value: Any) -> Any:
    if isinstance(value, dict):  # YAML keys may be numbers; outside values compare as text
        return {str(k): v for k, v in value.items()}
    return value


class PushProfile(BaseModel):
    model_config = STRICT_CONFIG

    metrics: dict[str, Annotated[MetricRule, BeforeValidator(_metric_rule)]] = Field(
        default_factory=dict)
    events: dict[str, Annotated[EventName | dict[str, EventName],
                                BeforeValidator(_event_values)]] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)


class Mapped:
    """What one uplink says in our terms."""

    __slots__ = ("events", "unmapped", "values")

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.unmapped: list[str] = []


def _number(name: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RejectedMessage(Reason.BAD_VALUE, f"{name[:64]} is not a number: "
                                                    f"{value[:32]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RejectedMessage(Reason.BAD_VALUE, f"{name[:64]} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise RejectedMessage(Reason.NON_FINITE, f"{name[:64]} is {value}")
    return number


def _event_for(rule: str | dict[str, str], value: Any) -> str | None:
    if isinstance(rule, str):
        return rule
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return rule.get(str(value).lower() if isinstance(value, bool) else str(value))


def map_uplink(profile: PushProfile, uplink: Uplink) -> Mapped:
    """The uplink's metrics (scaled) and events (with the outside field and value as detail).
    Raises ``RejectedMessage`` for a value that is not a number, or when nothing maps."""
    out = Mapped()
    ignore = profile.ignore
    for name, value in uplink.fields.items():
        rule = profile.metrics.get(name)
        if rule is not None:
            out.values[rule.metric] = _number(name, value) * rule.scale + rule.offset
            continue
        event_rule = profile.events.get(name)
        if event_rule is not None:
            event = _event_for(event_rule, value)
            if event is not None:
                out.events.append((event, {"field": name, "value": _plain(value)}))
            continue
        if name not in ignore:
            out.unmapped.append(name)
    for name, value in uplink.events.items():
        event_rule = profile.events.get(name)
        event = _event_for(event_rule, value) if event_rule is not None else None
        if event is not None:
            out.events.append((event, {"reported": name, "value": _plain(value)}))
        elif name not in ignore:
            out.unmapped.append(name)
    if not out.values and not out.events and uplink.presence is None and out.unmapped:
        raise RejectedMessage(Reason.BAD_SHAPE, "no field of the report is mapped by the "
                                                f"profile: {', '.join(out.unmapped[:10])}")
    return out


def _plain(value: Any) -> Any:
    """A value fit for an event's detail (plain scalars; anything else as short text)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:200]
