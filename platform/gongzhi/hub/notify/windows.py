"""Maintenance windows and silences: while a window is open, alarms of what it covers still make
tickets, but the tickets are marked ``silenced_by`` the window and nobody is notified of them.

A window covers an estate, a building, a riser, a device and/or kinds of alarm (every field given
must match), from ``starts_at`` until ``ends_at``. A recurring window is open only in its weekly
slot within that span (the pump test every Monday 10:00-10:30, local time). A window is never
deleted: it is ended (``ended_at``), early by a person or by itself once ``ends_at`` passes, so
a ticket stays marked by the window it opened in. Pure data and pure functions; the repository
keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MIN = 24 * 60


class WindowState(StrEnum):
    SCHEDULED = "scheduled"  # not begun yet
    OPEN = "open"  # silencing now
    WAITING = "waiting"  # recurring, between its slots
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Target:
    """What alarms a window covers; a field left None matches anything."""

    estate: str | None = None
    building: str | None = None
    riser: str | None = None
    device: str | None = None
    kinds: frozenset[str] | None = None

    @property
    def empty(self) -> bool:
        return (self.estate is None and self.building is None and self.riser is None
                and self.device is None and self.kinds is None)

    def covers(self, facts: Covered) -> bool:
        return ((self.estate is None or self.estate == facts.estate_id)
                and (self.building is None or self.building == facts.building)
                and (self.riser is None or self.riser == facts.riser)
                and (self.device is None or self.device == facts.device_id)
                and (self.kinds is None or facts.kind in self.kinds))

    def to_dict(self) -> dict[str, Any]:
        return {"estate": self.estate, "building": self.building, "riser": self.riser,
                "device": self.device,
                "kinds": sorted(self.kinds) if self.kinds is not None else None}


@dataclass(frozen=True, slots=True)
class Weekly:
    """A weekly slot in local time: on ``weekdays`` (0 = Monday) from ``start_min`` for
    ``length_min`` minutes (it may run past midnight; it belongs to the day it starts on)."""

    weekdays: frozenset[int]
    start_min: int
    length_min: int

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        for back in (0, 1):  # today's slot, or yesterday's running past midnight
            day = (local.weekday() - back) % 7
            offset = minute + back * DAY_MIN - self.start_min
            if day in self.weekdays and 0 <= offset < self.length_min:
                return True
        return False

    def next_start(self, local: datetime) -> datetime | None:
        """The start of the next slot after ``local`` (within a week)."""
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for ahead in range(8):
            day = midnight + timedelta(days=ahead)
            start = day + timedelta(minutes=self.start_min)
            if day.weekday() in self.weekdays and start > local:
                return start
        return None

    def to_dict(self) -> dict[str, Any]:
        end = (self.start_min + self.length_min) % DAY_MIN
        return {"weekdays": [WEEKDAYS[d] for d in sorted(self.weekdays)],
                "from": f"{self.start_min // 60:02d}:{self.start_min % 60:02d}",
                "to": f"{end // 60:02d}:{end % 60:02d}"}


class Covered(Protocol):
    """What a window is matched against (an alarm's facts, a ticket's place)."""

    @property
    def estate_id(self) -> str: ...
    @property
    def building(self) -> str | None: ...
    @property
    def riser(self) -> str | None: ...
    @property
    def device_id(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    target: Target
    author: str  # the party that made it
    reason: str
    starts_at: int
    ends_at: int
    created_at: int
    weekly: Weekly | None = None
    ended_at: int | None = None  # ended early by someone (``ended_by``)
    ended_by: str | None = None

    def closes_at(self) -> int:
        """When the window stops for good: ended early, or its end."""
        return min(self.ends_at, self.ended_at) if self.ended_at is not None else self.ends_at

    def open_at(self, at_ms: int, zone: ZoneInfo) -> bool:
        if not self.starts_at <= at_ms < self.closes_at():
            return False
        return self.weekly is None or self.weekly.contains(
            datetime.fromtimestamp(at_ms / 1000, zone))

    def state(self, at_ms: int, zone: ZoneInfo) -> WindowState:
        if at_ms >= self.closes_at():
            return WindowState.ENDED
        if at_ms < self.starts_at:
            return WindowState.SCHEDULED
        return WindowState.OPEN if self.open_at(at_ms, zone) else WindowState.WAITING

    def next_open_at(self, at_ms: int, zone: ZoneInfo) -> int | None:
        """When the window next starts silencing after ``at_ms`` (None: never again)."""
        if at_ms >= self.closes_at():
            return None
        if self.weekly is None:
            return self.starts_at if at_ms < self.starts_at else None
        local = datetime.fromtimestamp(max(at_ms, self.starts_at - 1) / 1000, zone)
        start = self.weekly.next_start(local)
        if start is None:
            return None
        ms = int(start.timestamp() * 1000)
        return ms if ms < self.closes_at() else None

    def to_dict(self, at_ms: int, zone: ZoneInfo) -> dict[str, Any]:
        return {"id": self.id, "target": self.target.to_dict(), "author": self.author,
                "reason": self.reason, "starts_at": self.starts_at, "ends_at": self.ends_at,
                "created_at": self.created_at,
                "weekly": self.weekly.to_dict() if self.weekly else None,
                "ended_at": self.ended_at, "ended_by": self.ended_by,
                "state": self.state(at_ms, zone).value,
                "next_open_at": self.next_open_at(at_ms, zone)}


def silencing(windows: Iterable[Window], facts: Covered, at_ms: int,
              zone: ZoneInfo) -> Window | None:
    """The window (lowest id) silencing an alarm of ``facts`` at ``at_ms``, if any."""
    found = [w for w in windows if w.open_at(at_ms, zone) and w.target.covers(facts)]
    return min(found, key=lambda w: w.id) if found else None


@dataclass(frozen=True, slots=True)
class NewWindow:
    """A window as asked for, before the repository numbers it."""

    target: Target
    author: str
    reason: str
    starts_at: int
    ends_at: int
    weekly: Weekly | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class WindowRepository(Protocol):
    """Where windows are kept (the ticket store in production). Every change is audited: the
    author made it, ``by`` ended it."""

    def add_window(self, new: NewWindow, now: int) -> Window: ...

    def end_window(self, window_id: int, by: str, now: int) -> Window | None:
        """End it at ``now`` (None: no such window); ending an ended window changes nothing
        and is not audited."""
        ...

    def get_window(self, window_id: int) -> Window | None: ...

    def windows(self, *, closing_after: int | None = None) -> Sequence[Window]:
        """Every window, or those still open or to come after ``closing_after``."""
        ...


class MemoryWindows:
    """A repository in memory (tests of the domain; a platform keeps them in its store)."""

    def __init__(self) -> None:
        self._rows: dict[int, Window] = {}
        self.audit: list[tuple[str, str, int]] = []  # (actor, action, window id)

    def add_window(self, new: NewWindow, now: int) -> Window:
        window = Window(len(self._rows) + 1, new.target, new.author, new.reason, new.starts_at,
                        new.ends_at, now, new.weekly)
        self._rows[window.id] = window
        self.audit.append((new.author, "window_create", window.id))
        return window

    def end_window(self, window_id: int, by: str, now: int) -> Window | None:
        window = self._rows.get(window_id)
        if window is None or window.closes_at() <= now:
            return window
        ended = Window(window.id, window.target, window.author, window.reason, window.starts_at,
                       window.ends_at, window.created_at, window.weekly, now, by)
        self._rows[window_id] = ended
        self.audit.append((by, "window_end", window_id))
        return ended

    def get_window(self, window_id: int) -> Window | None:
        return self._rows.get(window_id)

    def windows(self, *, closing_after: int | None = None) -> Sequence[Window]:
        return [w for w in self._rows.values()
                if closing_after is None or w.closes_at() > closing_after]
