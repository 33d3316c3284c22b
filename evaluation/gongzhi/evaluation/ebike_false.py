"""E-bike false alarms on real homes: every ``ebike_charging`` alarm raised on the real
household recordings is false (no e-bike was charged on those circuits), counted per 1,000
household-days and each attributed to the appliance whose own power best explains it: the
sub-metered appliance that was switching at the step the rule took for a charger's plug-in (its
own step, or its motor's or heater's edges while it ran), else the one that held the load over
the alarm's window (``household.attribute``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.evaluation.household import (
    APPLIANCES,
    HOUSES,
    MINUTE_MS,
    Recording,
    attribute,
    household_days,
    load_recordings,
    real_ms,
    recording_pieces,
    replay_pieces,
)

# An appliance drawing this share of the step around the step's time may have made it.
AROUND_STEP_MS = 2 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    house: str
    raised_ms: int  # real time
    step_ms: int  # when the load the rule took for a charger began (real time)
    step_w: float
    appliance: str


@dataclass(frozen=True, slots=True)
class FalseAlarmResult:
    houses: tuple[str, ...]
    household_days: float
    alarms: list[FalseAlarm] = field(default_factory=list)

    @property
    def per_1000_days(self) -> float:
        return 1000.0 * len(self.alarms) / self.household_days if self.household_days else 0.0

    def by_appliance(self) -> dict[str, int]:
        return dict(Counter(a.appliance for a in self.alarms).most_common())

    def context(self) -> dict[str, Any]:
        return {"alarms": len(self.alarms), "household_days": round(self.household_days, 1),
                "houses": list(self.houses), "by_appliance": self.by_appliance()}


def false_alarms(data_dir: Path, houses: tuple[str, ...], months: int | None = None,
                 ) -> FalseAlarmResult:
    """Run ``houses`` (their first ``months`` month files, or all) and collect the e-bike
    alarms."""
    found: list[FalseAlarm] = []
    days = 0.0
    for house in houses:
        recordings = load_recordings(data_dir, house)[:months]
        days += household_days(recordings)
        for piece, alarm in replay_pieces(recording_pieces(recordings)):
            if alarm.kind is not AlarmKind.EBIKE_CHARGING or alarm.state is not AlarmState.RAISE:
                continue
            raised = real_ms(piece, alarm.ts_ms)
            if raised < piece.count_from_ms:
                continue  # warm-up: the previous piece's
            window = alarm.evidence["window"]
            step = real_ms(piece, int(window["start_ms"]))
            step_w = float(alarm.evidence["step_w"])
            found.append(FalseAlarm(house, raised, step, step_w,
                                    cause(recordings, step, raised, step_w)))
    return FalseAlarmResult(houses, days, found)


def at_step(recordings: Sequence[Recording], step_ms: int, step_w: float) -> str | None:
    """The sub-metered appliance drawing most within ``AROUND_STEP_MS`` of the step (real time),
    if that is at least a third of the step: the step was its own switching."""
    best, best_w = None, 0.0
    for name in APPLIANCES:
        power = np.concatenate([
            r.appliances[name][np.abs(r.ts - step_ms) <= AROUND_STEP_MS] for r in recordings])
        if power.size and (peak := float(power.max())) > best_w:
            best, best_w = name, peak
    return best if best_w >= step_w / 3 else None


def cause(recordings: Sequence[Recording], step_ms: int, raised_ms: int, step_w: float) -> str:
    return at_step(recordings, step_ms, step_w) or attribute(recordings, step_ms, raised_ms,
                                                             step_w)


def split_false_alarms(data_dir: Path, split: str) -> FalseAlarmResult:
    return false_alarms(data_dir, HOUSES[split])
