"""Who is told: the people of each party, their duty roster, and which severities reach them on
which channels. Pure data (frozen pydantic models) and pure functions over it.

A roster has named shifts (``day: 08:00-20:00``, ``night: 20:00-08:00``; a shift whose end is not
after its start runs past midnight), a weekly rotation (week ``n`` after ``rotation_start`` uses
entry ``n % len(rotation)``: shift → people) and holiday overrides by date. A shift that runs past
midnight belongs to the date it starts on: at 02:00 on Tuesday the night guard is Monday night's.
All local times are in the roster file's timezone (Asia/Shanghai unless it says otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, Field, model_validator

from gongzhi.core.config_kit import (
    ID_PATTERN,
    ID_RULE,
    STRICT_CONFIG,
    Identifier,
    PositiveDuration,
    Secret,
    load_model,
    to_ms,
)
from gongzhi.hub.parties import PARTY_IDS, SUPERVISORS

Channel = Literal["wecom", "dingtalk", "feishu", "sms", "email", "webhook"]
Language = Literal["zh", "en"]
SeverityName = Literal["critical", "major", "minor"]

_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
_MOBILE = re.compile(r"^\+?\d{6,15}$")


def _mobile(value: str) -> str:
    if not _MOBILE.match(value):
        raise ValueError("a mobile number is 6 to 15 digits, optionally after +")
    return value


def _clock(value: str) -> int:
    found = _CLOCK.match(value)
    if not found or int(found.group(1)) > 24 or int(found.group(2)) > 59 or (
            int(found.group(1)) == 24 and int(found.group(2)) != 0):
        raise ValueError(f"{value!r} must be a time of day like 08:00")
    return int(found.group(1)) * 60 + int(found.group(2))


PersonId = Identifier
Mobile = Annotated[str, AfterValidator(_mobile)]


class _Frozen(BaseModel):
    model_config = STRICT_CONFIG


class Person(_Frozen):
    id: PersonId
    name: str = Field(min_length=1)
    mobile: Mobile | None = None
    email: str | None = None
    channels: tuple[Channel, ...] = ()  # preferred, in order
    language: Language = "zh"


class Shift(_Frozen):
    """``"08:00-20:00"``; an end not after the start runs past midnight."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> Shift:
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError(f"shift {text!r} must look like 08:00-20:00")
        start, end = (_clock(p.strip()) for p in parts)
        if start == 24 * 60:
            raise ValueError(f"shift {text!r} cannot start at 24:00")
        return cls(start_min=start, end_min=end)

    @property
    def length_min(self) -> int:
        return (self.end_min - self.start_min) % (24 * 60) or 24 * 60

    def label(self) -> str:
        def hhmm(minutes: int) -> str:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        return f"{hhmm(self.start_min)}-{hhmm(self.end_min)}"


class PartyRoster(_Frozen):
    people: tuple[Person, ...]
    shifts: Mapping[str, Shift] = Field(default_factory=dict)
    rotation_start: date | None = None  # week 0 of the rotation begins on this date
    rotation: tuple[Mapping[str, tuple[PersonId, ...]], ...] = ()
    holidays: Mapping[date, Mapping[str, tuple[PersonId, ...]]] = Field(default_factory=dict)
    backup: tuple[PersonId, ...] = ()  # told after the people on duty, before the leader
    leader: PersonId | None = None
    severities: Mapping[SeverityName, tuple[Channel, ...]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shift_text(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("shifts"), dict):
            shifts = {}
            for name, text in data["shifts"].items():
                shifts[name] = Shift.parse(text) if isinstance(text, str) else text
            data = {**data, "shifts": shifts}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [p.id for p in self.people]
        if len(set(ids)) != len(ids):
            raise ValueError("a person id is used twice")
        known = set(ids)
        for name in self.shifts:
            if not ID_PATTERN.fullmatch(name):
                raise ValueError(f"shift name {name!r} must be {ID_RULE}")
        self._check_cover()
        plans = [*self.rotation, *self.holidays.values()]
        for plan in plans:
            for shift, people in plan.items():
                if shift not in self.shifts:
                    raise ValueError(f"unknown shift {shift!r}; shifts: "
                                     + ", ".join(sorted(self.shifts)))
                _known(people, known)
        _known(self.backup, known)
        if self.leader is not None:
            _known((self.leader,), known)
        if self.rotation and self.rotation_start is None:
            raise ValueError("a rotation needs rotation_start (the date its week 0 begins)")
        return self

    def _check_cover(self) -> None:
        """Shifts may not overlap: at any minute at most one shift runs."""
        covered = [0] * (24 * 60)
        for name, shift in self.shifts.items():
            for offset in range(shift.length_min):
                minute = (shift.start_min + offset) % (24 * 60)
                if covered[minute]:
                    raise ValueError(f"shift {name!r} overlaps another shift")
                covered[minute] = 1

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)


def _known(people: tuple[str, ...], known: set[str]) -> None:
    for person in people:
        if person not in known:
            raise ValueError(f"unknown person {person!r}; people: " + ", ".join(sorted(known)))


class Repeat(_Frozen):
    """Re-notification of an unacknowledged ticket: every ``every`` seconds, ``per_step``
    attempts to each step of the chain before the next step is told."""

    every: PositiveDuration
    per_step: int = Field(default=2, ge=1)

    @property
    def every_ms(self) -> int:
        return to_ms(self.every)


DEFAULT_REPEAT: Mapping[SeverityName, Repeat] = {
    "critical": Repeat(every=120.0, per_step=2),
    "major": Repeat(every=600.0, per_step=3),
}


class Links(_Frozen):
    """The signed links to the mobile page: the server secret (a file or variable; without
    one the platform keeps its own in its data directory) and how long a link is good for."""

    secret: Secret | None = None
    ttl: PositiveDuration = 24 * 3600.0

    @property
    def ttl_ms(self) -> int:
        return to_ms(self.ttl)


class Rosters(_Frozen):
    version: Literal[1]
    timezone: str = "Asia/Shanghai"
    parties: Mapping[str, PartyRoster] = Field(default_factory=dict)
    # Per severity; a severity left out is told once and not again.
    renotify: Mapping[SeverityName, Repeat] = Field(default_factory=lambda: DEFAULT_REPEAT)
    links: Links = Field(default_factory=Links)

    @model_validator(mode="after")
    def _parties_known(self) -> Self:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        for party in self.parties:
            if party not in PARTY_IDS:
                raise ValueError(f"unknown party {party!r}; parties: "
                                 + ", ".join(sorted(PARTY_IDS)))
            if party in SUPERVISORS:
                raise ValueError(f"{party} supervises and only reads; it has no duty roster")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def person(self, party: str, person_id: str) -> Person | None:
        roster = self.parties.get(party)
        return roster.person(person_id) if roster else None


EMPTY = Rosters(version=1)


def load_rosters(path: Path | None) -> Rosters:
    """The rosters file at ``path`` (errors name file:line), or none at all for None."""
    return EMPTY if path is None else load_model(path, Rosters)


@dataclass(frozen=True, slots=True)
class OnDuty:
    """Who of ``party`` is on duty at a moment, in which shift, from when until when (ms)."""

    party: str
    shift: str | None
    starts_at: int | None
    ends_at: int | None
    people: tuple[Person, ...]
    holiday: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"party": self.party, "shift": self.shift, "starts_at": self.starts_at,
                "ends_at": self.ends_at, "holiday": self.holiday,
                "people": [{"id": p.id, "name": p.name, "language": p.language,
                            "channels": list(p.channels)} for p in self.people]}


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def duty_at(rosters: Rosters, party: str, at_ms: int) -> OnDuty:
    """Who is on duty for ``party`` at ``at_ms`` (nobody when the party has no roster, no shift
    runs then, or its plan leaves the shift empty)."""
    roster = rosters.parties.get(party)
    if roster is None:
        return OnDuty(party, None, None, None, ())
    zone = rosters.zone
    local = datetime.fromtimestamp(at_ms / 1000, zone)
    minute = local.hour * 60 + local.minute
    for name, shift in roster.shifts.items():
        offset = (minute - shift.start_min) % (24 * 60)
        if offset >= shift.length_min:
            continue
        # The date the shift started on: yesterday for the small hours of a night shift.
        began_on = local.date() - timedelta(days=1 if minute < shift.start_min else 0)
        start = datetime.combine(began_on, time(), zone) + timedelta(minutes=shift.start_min)
        end = start + timedelta(minutes=shift.length_min)
        plan, holiday = _plan(roster, began_on)
        people = tuple(p for pid in plan.get(name, ()) if (p := roster.person(pid)) is not None)
        return OnDuty(party, name, _to_ms(start), _to_ms(end), people, holiday)
    return OnDuty(party, None, None, None, ())


def _plan(roster: PartyRoster, day: date) -> tuple[Mapping[str, tuple[str, ...]], bool]:
    if day in roster.holidays:
        return roster.holidays[day], True
    if not roster.rotation or roster.rotation_start is None:
        return {}, False
    week = (day - roster.rotation_start).days // 7
    return roster.rotation[week % len(roster.rotation)], False


def on_duty(rosters: Rosters, party: str, at_ms: int) -> tuple[Person, ...]:
    """The people of ``party`` on duty at ``at_ms``."""
    return duty_at(rosters, party, at_ms).people


def channels_for(rosters: Rosters, party: str, severity: str,
                 person: Person) -> tuple[Channel, ...]:
    """The channels ``person`` of ``party`` is told on for a ticket of ``severity``: the party's
    channels for the severity, in the person's order of preference first; the person's own
    preferences when the party names none for it."""
    roster = rosters.parties.get(party)
    allowed = roster.severities.get(severity) if roster else None  # type: ignore[call-overload]
    if allowed is None:
        return person.channels
    preferred = [c for c in person.channels if c in allowed]
    return tuple(dict.fromkeys([*preferred, *allowed]))
