"""Declared absences of elderly people living alone (a trip to family, a stay in hospital), made by
the residents' committee. A ``welfare_check`` alarm of a household inside one of its declared
absences makes no ticket: nobody is at home to visit, and a visit (or the police room's forced
entry after it) is what a ticket asks for. The alarm is held by the absence instead (counted, by
alarm id), so the committee sees what the silence looked like while the person was away.

The gateway judges every day of a silence afresh (``gongzhi.gateway.detection.welfare``): a
person not back when the absence ends raises a new welfare alarm the next time the household's
rhythm expects a sign of life, and that one makes a ticket. Pure: the repository keeps them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
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
        return cls(**{**data, "held": tuple(data.get("held", ()))})


class AbsenceBook:
    """The absences, in memory, written through ``save`` after every change."""

    def __init__(self, absences: list[Absence] | None = None,
                 save: Callable[[list[Absence]], None] | None = None) -> None:
        self._absences = list(absences or [])
        self._save = save
        self._lock = threading.Lock()

    def all(self) -> list[Absence]:
        with self._lock:
            return list(self._absences)

    def declare(self, estate_id: str, household: str, starts_at: int, ends_at: int,
                declared_by: str, note: str, now: int) -> Absence:
        with self._lock:
            absence = Absence(max((a.id for a in self._absences), default=0) + 1, estate_id,
                              household, starts_at, ends_at, declared_by, note, now)
            self._absences.append(absence)
            self._write()
            return absence

    def end(self, absence_id: int, now: int) -> Absence | None:
        with self._lock:
            for i, absence in enumerate(self._absences):
                if absence.id == absence_id:
                    if absence.ended_at is None:
                        absence = replace(absence, ended_at=now)
                        self._absences[i] = absence
                        self._write()
                    return absence
            return None

    def hold(self, alarm: Alarm, registry: Registry) -> Absence | None:
        """The absence that holds ``alarm`` (a welfare check RAISE of a household inside it),
        recorded on it; None when the alarm is to make its ticket as usual."""
        if alarm.kind is not AlarmKind.WELFARE_CHECK or alarm.state is not AlarmState.RAISE:
            return None
        record = registry.get(alarm.device_id)
        if record is None or not record.household:
            return None
        with self._lock:
            for i, absence in enumerate(self._absences):
                if absence.covers(record.location.estate_id, record.household, alarm.ts_ms):
                    if alarm.alarm_id not in absence.held:
                        absence = replace(absence, held=(*absence.held, alarm.alarm_id))
                        self._absences[i] = absence
                        self._write()
                    return absence
        return None

    def _write(self) -> None:
        if self._save is not None:
            self._save(list(self._absences))
