"""Declared absences of elderly people living alone (a trip to family, a stay in hospital), made by
the residents' committee. A ``welfare_check`` alarm of a household inside one of its declared
absences makes no ticket: nobody is at home to visit, and a visit (or the police room's forced
entry after it) is what a ticket asks for. The alarm is held by the absence instead (counted, by
alarm id), so the committee sees what the silence looked like while the person was away.

The gateway judges every day of a silence afresh (``gongzhi.gateway.detection.welfare``): a
person not back when the absence ends raises a new welfare alarm the next time the household's
rhythm expects a sign of life, and that one makes a ticket. Pure: the ticket store keeps them
(``gongzhi.hub.away_store``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import Registry

MAX_AWAY_MS = 92 * 86_400_000  # a quarter: longer is a move, not an absence


@dataclass(frozen=True, slots=True)
class Absence:
    id: int
    estate_id: str
    household: str
    starts_at: int
    ends_at: int
    declared_by: str
    note: str
    created_at: int
    ended_at: int | None = None  # ended early (back sooner)
    held: tuple[str, ...] = ()  # welfare alarm ids held, not made tickets

    @property
    def until(self) -> int:
        return self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)

    def covers(self, estate_id: str, household: str, ts_ms: int) -> bool:
        return (self.estate_id == estate_id and self.household == household
                and self.starts_at <= ts_ms < self.until)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["held"] = list(self.held)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Absence:
        """An absence as ``to_dict`` wrote it; ValueError naming the field when it is not."""
        if not isinstance(data, dict):
            raise ValueError(f"an absence is an object, not {type(data).__name__}")
        unknown = set(data) - set(cls.__slots__)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        for name in ("id", "starts_at", "ends_at", "created_at", "ended_at"):
            value = data.get(name)
            if value is None and name == "ended_at":
                continue
            if type(value) is not int or not 0 <= value < 2**63:
                raise ValueError(f"{name} must be a 64-bit integer, not {value!r}")
        held = data.get("held", [])
        if not isinstance(held, list):
            raise ValueError("held must be a list of alarm ids")
        for name, text in [(n, data.get(n)) for n in ("estate_id", "household", "declared_by",
                                                       "note")] + [("held", a) for a in held]:
            if not isinstance(text, str) or "\x00" in text:
                raise ValueError(f"{name} must be text without NUL, not {text!r}")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"{name} is not Unicode text: {exc.reason}") from exc
        return cls(**{**data, "held": tuple(held)})


def holdable(alarm: Alarm, registry: Registry) -> tuple[str, str] | None:
    """(estate, household) of an alarm a declared absence may hold: a ``welfare_check`` RAISE of
    a device of a household; None for every other alarm (which makes its ticket as usual)."""
    if alarm.kind is not AlarmKind.WELFARE_CHECK or alarm.state is not AlarmState.RAISE:
        return None
    record = registry.get(alarm.device_id)
    if record is None or not record.household:
        return None
    return record.location.estate_id, record.household
