"""A household's daily rhythm, learned from its own days: when its first sign of life comes in
the morning, how long its longest silence lasts while it is up, when it goes quiet for the
night, and how long it stays quiet, nights included. Pure: days in, expectations out.

A day runs from ``DAY_START_MIN`` (04:00 local) to the next: a light at 03:00 belongs to the
night before. Weekdays and weekends are told apart when the history has enough of the day's
kind (``MIN_OF_KIND``); else all days are used. Every expectation is an upper quantile of the
household's own days plus a margin (``RhythmSettings``), so a household whose mornings are
regular is expected early and one whose mornings vary is given room.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
DAY_START_MIN = 4 * 60  # the day begins at 04:00 local time
MIN_OF_KIND = 6  # weekday/weekend apart once the history has this many days of the kind


@dataclass(frozen=True, slots=True)
class RhythmSettings:
    """How sure the model must be before it calls silence unusual. Chosen on the development
    houses and months (docs/welfare.md), not on the ones reported."""

    history_days: int = 42  # the days remembered
    min_days: int = 21  # a household is watched once this many days are learned
    first_quantile: float = 0.9  # of the first-activity times of the day's kind (robust: not the
    # latest, which a trip's return or a lie-in after a late night makes)
    first_margin_min: float = 120.0
    gap_quantile: float = 1.0  # of the daily longest silence while up: the longest
    gap_margin_min: float = 120.0
    gap_min_min: float = 240.0  # a silence shorter than this is never a concern
    # A silence while up with something left on all through (a light, the television): its
    # own limit, the household's longest such silence plus a margin. A household going out
    # switches things off; a person who falls leaves on what was on.
    on_gap_quantile: float = 1.0  # of the daily longest left-on silence while up
    # 5 h: the smallest whole hour that raised no more on the development months (4 h raised
    # two outings of the REFIT home with a load left on, 7.1 and 8.4 h long)
    on_gap_margin_min: float = 300.0
    on_gap_min_min: float = 360.0  # ... and never shorter than this
    # of the last signs: the left-on rule's alarm falls before it (a later bedtime than the
    # gap rule's: a light on at a usual bedtime is a person still up; 0.9 and 1.0 raised the same
    # on the development months as 0.5, and found the development seeds' falls sooner)
    on_bed_quantile: float = 0.9
    bed_quantile: float = 0.5  # the gap rule's alarm falls before the household's usual last sign
    water_quantile: float = 1.0  # of the daily longest quiet time, nights included
    water_margin_min: float = 120.0
    water_min_min: float = 12 * 60.0  # 12 h without water (Shenzhen Longgang's rule)
    # "All off": the whole-house power, all through the silence, at most this far above the
    # household's standby floor (the median of its days' lowest power): a fridge and standby
    # loads, nothing a person left on (a light, the television, heating).
    floor_margin_w: float = 30.0
    floor_margin_share: float = 0.25  # ... or this share of the floor, if more
    # An all-off silence that began this long before the household's usual last sign (in the
    # day or evening, not at bedtime) looks like a departure: it is raised no earlier than the
    # next morning's expected first sign plus ``away_margin_min``.
    departure_before_bed_min: float = 60.0
    away_margin_min: float = 120.0
    # A day whose first sign ends a silence this long (a return from a trip) teaches nothing
    # of the household's mornings or its silences while up.
    return_silence_min: float = 24 * 60.0


@dataclass(frozen=True, slots=True)
class DayRecord:
    """One learned day: minutes after local midnight (may pass 1440 for after midnight)."""

    day: int  # local day number (days since 1970-01-01, shifted by DAY_START_MIN)
    weekend: bool
    first_min: float | None  # None: the day's morning was not seen whole (a blind spell)
    last_min: float | None
    longest_gap_min: float | None  # while up, between first and last; None: not seen whole
    quiet_gap_min: float | None  # the longest time without any sign ending this day, nights
    # included; None: no water meter (the ``no_water`` rule is theirs)
    floor_w: float | None = None  # the day's lowest whole-house power (None: no monitor)
    # The longest silence while up with something left on all through it (above the standby
    # floor known then, plus its margin); None: not known (no floor learned yet, a blind spell,
    # or a day learned before this was)
    longest_on_gap_min: float | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the rhythm expects of a day of one kind, in minutes after local midnight."""

    days: int
    kind: str  # "weekday", "weekend" or "all"
    first_p50: float
    first_by: float  # first activity expected by
    gap_limit: float | None  # minutes of silence while up
    up_until: float | None  # the gap rule runs for silences starting before this
    water_limit: float | None  # minutes without water
    floor_w: float | None = None  # the standby floor: the median of the days' lowest power
    on_gap_limit: float | None = None  # minutes of a silence while up with something left on
    on_up_until: float | None = None  # the left-on rule runs for silences due before this

    def all_off_below(self, settings: RhythmSettings) -> float | None:
        """The power under which the home has nothing left on (None: no floor learned)."""
        return all_off_below(self.floor_w, settings)

    def summary(self) -> dict[str, Any]:
        return {
            "days_learned": self.days,
            "day_kind": self.kind,
            "first_activity_median": clock_text(self.first_p50),
            "first_activity_expected_by": clock_text(self.first_by),
            "longest_silence_allowed_h": None if self.gap_limit is None
            else round(self.gap_limit / 60, 1),
            "usually_up_until": None if self.up_until is None else clock_text(self.up_until),
            "water_silence_allowed_h": None if self.water_limit is None
            else round(self.water_limit / 60, 1),
            "standby_floor_w": None if self.floor_w is None else round(self.floor_w),
            "longest_left_on_silence_allowed_h": None if self.on_gap_limit is None
            else round(self.on_gap_limit / 60, 1),
        }


def clock_text(minutes: float) -> str:
    m = round(minutes) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q, method="higher"))


def all_off_below(floor_w: float | None, settings: RhythmSettings) -> float | None:
    """The power under which a home of standby floor ``floor_w`` has nothing left on (None: no
    floor learned)."""
    if floor_w is None:
        return None
    return floor_w + max(settings.floor_margin_w, settings.floor_margin_share * floor_w)


@dataclass(slots=True)
class Rhythm:
    settings: RhythmSettings = field(default_factory=RhythmSettings)
    days: deque[DayRecord] = field(default_factory=deque)
    _cache: dict[bool, Expectation | None] = field(default_factory=dict)
    _floor: dict[str, float | None] = field(default_factory=dict)  # {"w": floor} once computed

    def learn(self, record: DayRecord) -> None:
        self.days.append(record)
        while self.days and self.days[0].day <= record.day - self.settings.history_days:
            self.days.popleft()
        self._cache.clear()
        self._floor.clear()

    def floor_w(self) -> float | None:
        """The standby floor: the median of the lowest power of the learned days whose
        morning was seen (None: fewer than half ``min_days`` such days). Known before the
        household is judged, so that the days learning it can tell a silence left on from one
        with everything off."""
        if "w" not in self._floor:
            floors = [d.floor_w for d in self.days
                      if d.floor_w is not None and d.first_min is not None]
            self._floor["w"] = float(np.median(floors)) \
                if len(floors) >= self.settings.min_days // 2 else None
        return self._floor["w"]

    def expect(self, weekend: bool) -> Expectation | None:
        """The expectation for a day of the kind, or None while too little is learned."""
        if weekend not in self._cache:
            self._cache[weekend] = self._expect(weekend)
        return self._cache[weekend]

    def _expect(self, weekend: bool) -> Expectation | None:
        s = self.settings
        seen = [d for d in self.days if d.first_min is not None]
        if len(seen) < s.min_days:
            return None
        same = [d for d in seen if d.weekend == weekend]
        kind = "weekend" if weekend else "weekday"
        if len(same) < MIN_OF_KIND:
            same, kind = seen, "all"
        firsts = [d.first_min for d in same if d.first_min is not None]
        gaps = [d.longest_gap_min for d in seen if d.longest_gap_min is not None]
        lasts = [d.last_min for d in seen if d.last_min is not None]
        waters = [d.quiet_gap_min for d in seen if d.quiet_gap_min is not None]
        on_gaps = [d.longest_on_gap_min for d in seen if d.longest_on_gap_min is not None]
        gap_limit = max(s.gap_min_min, _quantile(gaps, s.gap_quantile) + s.gap_margin_min) \
            if len(gaps) >= s.min_days // 2 else None
        water_limit = max(s.water_min_min,
                          _quantile(waters, s.water_quantile) + s.water_margin_min) \
            if len(waters) >= s.min_days // 2 else None
        on_gap_limit = max(s.on_gap_min_min,
                           _quantile(on_gaps, s.on_gap_quantile) + s.on_gap_margin_min) \
            if len(on_gaps) >= s.min_days // 2 else None
        return Expectation(
            days=len(seen), kind=kind,
            first_p50=float(np.median(firsts)),
            first_by=_quantile(firsts, s.first_quantile) + s.first_margin_min,
            gap_limit=gap_limit,
            up_until=_quantile(lasts, s.bed_quantile) if lasts else None,
            water_limit=water_limit,
            floor_w=self.floor_w(), on_gap_limit=on_gap_limit,
            on_up_until=_quantile(lasts, s.on_bed_quantile) if lasts else None)
