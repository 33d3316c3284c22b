"""Passive care on real homes: each house of ``shared/data/household-power`` taken as the home
of an elderly person living alone, its whole-house power as the household's monitor (one report
a minute; a minute the data fills with 0 W is a minute the monitor did not report). Nobody in
these homes fell, so every ``welfare_check`` raised is a false alarm; each is listed with the
day that caused it.

Months are split before any figure is looked at (``SPLITS``): the model's settings are chosen on
the development months and reported on the others. The two houses' recordings are split by
time, not by house, since a model of this kind is per household: each house's first months are
its development part and its later months the held-out part, so the held-out figure is what the
settings do on months nobody looked at (the model still learns on its own, from the start of
each recording). The data's timestamps are the homes' local clock: the estate's timezone is UTC
here.

``run_house`` goes through the gateway's detection engine by the backtest's replay (exactly what
``gongzhi backtest`` runs), ``run_house_direct`` feeds the welfare rule alone (the same code,
without the other rules: for choosing settings quickly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import Registry
from gongzhi.evaluation.household import (
    VOLTS,
    load_recordings,
    monitor_record,
    monitor_series,
)
from gongzhi.gateway.backtest.replay import Replay
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.detection.presence import offline_after_ms
from gongzhi.gateway.detection.rhythm import RhythmSettings
from gongzhi.gateway.detection.welfare import BURST_MS, STEP_W, WelfareWatch
from gongzhi.gateway.messages import Telemetry

HOUSES = ("UKDALE_House2", "REFIT_House2")
# Declared before any figure was measured: (house, first month, last month) per part.
SPLITS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "development": (("UKDALE_House2", "2013-05", "2013-07"),
                    ("REFIT_House2", "2013-10", "2014-05")),
    "report": (("UKDALE_House2", "2013-08", "2013-10"),
               ("REFIT_House2", "2014-06", "2015-01")),
}
TIMEZONE = "UTC"  # the data's clock is the homes' own
QUARTER_MONTHS = 3.0
DAY_MS = 86_400_000
# A silence this long, recognised afterwards from the data (no sign of life from its last sign
# to the next), is taken as a trip: an elderly household's trips are declared to the committee.
ABSENCE_MS = DAY_MS


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    house: str
    day: str  # the local date it was raised on
    rule: str
    raised_at: str
    expected_by: str
    last_activity_at: str | None
    left_on: bool | None = None  # the power stayed above the standby floor all the silence
    in_absence: bool = False  # inside a silence of at least ``ABSENCE_MS`` (a trip)
    active_h: float | None = None  # raised until its CLEAR (None: still active at the end)

    def to_dict(self) -> dict[str, str | bool | float | None]:
        return {"house": self.house, "day": self.day, "rule": self.rule,
                "raised_at": self.raised_at, "expected_by": self.expected_by,
                "last_activity_at": self.last_activity_at, "left_on": self.left_on,
                "in_absence": self.in_absence, "active_h": self.active_h}


@dataclass(frozen=True, slots=True)
class PartResult:
    part: str
    household_months: float
    false_alarms: tuple[FalseAlarm, ...]
    # Distinct silences: the days of one silence (no sign of life between its alarms) are one
    # episode, what a committee that declares a trip after its first visit would have had.
    episodes: int = 0

    @property
    def per_household_month(self) -> float:
        return len(self.false_alarms) / self.household_months if self.household_months else 0.0

    @property
    def per_household_quarter(self) -> float:
        return self.per_household_month * QUARTER_MONTHS

    @property
    def outside_absences(self) -> int:
        """The false alarms left if multi-day absences had been declared."""
        return sum(not f.in_absence for f in self.false_alarms)

    @property
    def per_household_quarter_absences_declared(self) -> float:
        return (self.outside_absences / self.household_months * QUARTER_MONTHS
                if self.household_months else 0.0)

    def to_dict(self) -> dict[str, object]:
        return {"part": self.part, "household_months": round(self.household_months, 2),
                "false_alarms": len(self.false_alarms), "episodes": self.episodes,
                "per_household_month": round(self.per_household_month, 3),
                "per_household_quarter": round(self.per_household_quarter, 3),
                "false_alarms_outside_multi_day_absences": self.outside_absences,
                "per_household_quarter_absences_declared":
                    round(self.per_household_quarter_absences_declared, 3),
                "days": [f.to_dict() for f in self.false_alarms]}


def config(settings: RhythmSettings | None = None) -> DetectionConfig:
    return replace(DetectionConfig(), timezone=TIMEZONE, welfare=settings or RhythmSettings())


def _registry(house: str) -> Registry:
    return Registry([replace(monitor_record(house), elderly_alone=True)])


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _month_bounds(month: str) -> tuple[int, int]:
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def house_data(data_dir: Path, house: str, last_month: str | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    recs = [r for r in load_recordings(data_dir, house)
            if last_month is None or r.month <= last_month]
    return (np.concatenate([r.ts for r in recs]).astype(np.int64),
            np.concatenate([r.aggregate for r in recs]))


def run_house_direct(data_dir: Path, house: str, settings: RhythmSettings | None = None,
                     last_month: str | None = None) -> list[Alarm]:
    """The welfare rule alone over a house's recording (from its start up to ``last_month``)."""
    registry = _registry(house)
    index = DeviceIndex(registry)
    watch = WelfareWatch(index, offline_after_ms(index).tolist(), TIMEZONE, settings)
    ts, power = house_data(data_dir, house, last_month)
    alarms: list[Alarm] = []
    for t, p in zip(ts.tolist(), power.tolist(), strict=True):
        message = Telemetry(house, "real", DeviceType.ELECTRICAL, t,
                            {"power_w": p, "current_a": round(p / VOLTS, 3)}, t)
        alarms += watch.observe([message])
    return alarms


def run_house(data_dir: Path, house: str, settings: RhythmSettings | None = None,
              last_month: str | None = None) -> list[Alarm]:
    """The whole gateway engine (every rule) over the recording, as ``gongzhi backtest``."""
    registry = _registry(house)
    ts, power = house_data(data_dir, house, last_month)
    replay = Replay(registry, detector_factory=lambda r: DetectionEngine(r, config(settings)))
    return [a for a in replay.run([monitor_series(house, ts, power)])
            if a.kind is AlarmKind.WELFARE_CHECK]


def _days_with_data(ts: np.ndarray, start: int, end: int) -> float:
    inside = (ts >= start) & (ts < end)
    return float(inside.sum()) / 1440.0


def score(part: str, alarms_by_house: dict[str, list[Alarm]], data_dir: Path,
          last_month: dict[str, str] | None = None) -> PartResult:
    """The part's false alarms (RAISEs inside its months, up to ``last_month`` of a house if
    given) per household-month with data, over the houses of ``alarms_by_house``."""
    months = 0.0
    found: list[FalseAlarm] = []
    episodes = 0
    for house, first, last in SPLITS[part]:
        if house not in alarms_by_house:
            continue
        last = (last_month or {}).get(house, last)
        start, _ = _month_bounds(first)
        _, end = _month_bounds(last)
        ts, _power = house_data(data_dir, house)
        months += _days_with_data(ts, start, end) / (365.25 / 12)
        previous_sign: object = None
        house_alarms = alarms_by_house.get(house, [])
        signs = _signs(*house_data(data_dir, house))
        cleared = {a.alarm_id: a.ts_ms for a in house_alarms if a.state is AlarmState.CLEAR}
        for a in house_alarms:
            if a.state is AlarmState.RAISE and start <= a.ts_ms < end:
                sign = a.evidence.get("last_activity_at_ms")
                episodes += sign is None or sign != previous_sign
                previous_sign = sign
                back = _next(signs, sign) if isinstance(sign, int) else None
                found.append(FalseAlarm(house, _stamp(a.ts_ms)[:10], str(a.evidence["rule"]),
                                        _stamp(a.ts_ms), str(a.evidence["expected_by"]),
                                        a.evidence.get("last_activity_at"),
                                        a.evidence.get("left_on"),
                                        back is not None and isinstance(sign, int)
                                        and back - sign >= ABSENCE_MS,
                                        round((cleared[a.alarm_id] - a.ts_ms) / 3_600_000, 1)
                                        if a.alarm_id in cleared else None))
    return PartResult(part, months, tuple(found), episodes)


def _signs(ts: np.ndarray, power: np.ndarray) -> np.ndarray:
    """The recording's signs of life, read afterwards as the rule reads them: a step of
    ``STEP_W`` between two reports a minute apart (no gap, no 0 W), within ``BURST_MS`` of the
    step before."""
    ok = (np.diff(ts) <= 60_000) & (power[1:] > 0) & (power[:-1] > 0)
    steps = ts[1:][ok & (np.abs(np.diff(power)) >= STEP_W)]
    return steps[1:][np.diff(steps) <= BURST_MS]


def _next(signs: np.ndarray, after: int) -> int | None:
    """The first sign of life after ``after`` (None: none before the recording ends)."""
    i = int(np.searchsorted(signs, after, side="right"))
    return int(signs[i]) if i < signs.size else None


def evaluate(data_dir: Path, part: str, settings: RhythmSettings | None = None, *,
             direct: bool = False, houses: Sequence[str] = HOUSES) -> PartResult:
    run = run_house_direct if direct else run_house
    last = {h: last for h, _first, last in SPLITS[part]}
    alarms = {h: run(data_dir, h, settings, last[h]) for h in houses if h in last}
    return score(part, alarms, data_dir)
