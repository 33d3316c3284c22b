"""E-bike recall on real homes: real charger shapes (``ebike_chargers``), scaled to 100-400 W and
1-5 h, played into a real household's whole-house power at random evening times (seeded), each
through the backtest engine path as one circuit monitor that has watched the day before. Each
charged evening is replayed beside its control, the same evening without the charge. A charge is
found when an ``ebike_charging`` alarm is raised between the plug-in and the end of the charge's
taper, and either the control raised no e-bike alarm from an hour before the plug-in to an hour
after the taper's end (the alarm is the charge's), or the alarm's step is within 15 minutes of
the plug-in; the delay is from plug-in to that alarm. The controls' alarms after their warm-up
are false alarms (``RecallResult.control_alarms``)."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gongzhi.core.alarms import AlarmKind, AlarmState
from gongzhi.evaluation.ebike_chargers import Charge, taper_shapes
from gongzhi.evaluation.household import (
    DAY_MS,
    HOUSES,
    MINUTE_MS,
    ORIGIN_MS,
    Piece,
    Recording,
    load_recordings,
    real_ms,
    replay_pieces,
)

LEVEL_W = (100.0, 400.0)
HOURS = (1.0, 5.0)
EVENING_H = (17.0, 23.0)  # plug-in between 17:00 and 23:00
WATCHED_MS = DAY_MS  # the monitor has watched the day before
AFTER_MS = 2 * 3_600_000  # and goes on after the charge
STEP_TOLERANCE_MS = 15 * MINUTE_MS
# The evenings replayed without a charge are also the day before each: the house's own days
# again, each replay from a different moment, so its candidates stand differently. Their alarms
# after this warm-up are false alarms too (a second count for choosing settings on the
# development house: its one false alarm in 120 household-days cannot rank them).
CONTROL_WARMUP_MS = 12 * 3_600_000
HOUR_MS = 3_600_000
MIN_COVERAGE = 0.95  # of the minutes around a charge must have data


@dataclass(frozen=True, slots=True)
class PlayedCharge:
    house: str
    plug_ms: int
    charge: Charge
    found_ms: int | None  # the alarm (real time), None: missed

    @property
    def delay_min(self) -> float | None:
        return None if self.found_ms is None else (self.found_ms - self.plug_ms) / MINUTE_MS


@dataclass(frozen=True, slots=True)
class RecallResult:
    houses: tuple[str, ...]
    seed: int
    charges: list[PlayedCharge] = field(default_factory=list)
    # The replays without a charge after their warm-up: their e-bike alarms and their length.
    control_alarms: int = 0
    control_days: float = 0.0

    @property
    def recall(self) -> float:
        found = sum(c.found_ms is not None for c in self.charges)
        return found / len(self.charges) if self.charges else 0.0

    def delays_min(self) -> list[float]:
        return [d for c in self.charges if (d := c.delay_min) is not None]

    def context(self) -> dict[str, Any]:
        delays = self.delays_min()
        missed = [c for c in self.charges if c.found_ms is None]
        shapes: dict[str, list[bool]] = {}
        for c in self.charges:
            shapes.setdefault(c.charge.plug, []).append(c.found_ms is not None)
        return {"charges": len(self.charges), "found": len(delays),
                "recall_by_shape": {plug: round(sum(f) / len(f), 3)
                                    for plug, f in sorted(shapes.items())},
                "delay_min_p50": round(statistics.median(delays), 1) if delays else None,
                "delay_min_max": round(max(delays), 1) if delays else None,
                "houses": list(self.houses), "seed": self.seed,
                "missed": [{"level_w": round(c.charge.level_w), "hours": round(c.charge.hours, 2),
                            "shape": c.charge.plug} for c in missed[:20]]}


def _plug_times(rec: Recording, rng: random.Random, count: int) -> list[int]:
    """Up to ``count`` evening plug-in times in ``rec`` with data around them."""
    first_day = int(rec.ts[0]) // DAY_MS + 1  # a whole day watched before
    last_day = int(rec.ts[-1]) // DAY_MS - 1
    out: list[int] = []
    for _ in range(count * 5):
        if len(out) == count or last_day < first_day:
            break
        day = rng.randint(first_day, last_day)
        plug = day * DAY_MS + int(rng.uniform(*EVENING_H) * 3_600_000) // MINUTE_MS * MINUTE_MS
        span = (plug - WATCHED_MS, plug + int(HOURS[1] * 3_600_000) + AFTER_MS)
        inside = (rec.ts >= span[0]) & (rec.ts < span[1])
        if inside.sum() >= MIN_COVERAGE * (span[1] - span[0]) / MINUTE_MS:
            out.append(plug)
    return out


def play_charges(data_dir: Path, houses: tuple[str, ...], per_house: int, seed: int,
                 ) -> RecallResult:
    rng = random.Random(seed)
    shapes = taper_shapes(data_dir)
    played: list[tuple[Piece, Piece, Charge]] = []
    for house in houses:
        recordings = load_recordings(data_dir, house)
        usable = [r for r in recordings if r.ts.size > 3 * 1440]
        for n in range(per_house):
            rec = usable[n % len(usable)]
            plugs = _plug_times(rec, rng, 1)
            if not plugs:
                continue
            plug = plugs[0]
            charge = Charge.scaled(rng.choice(shapes), rng.uniform(*LEVEL_W), rng.uniform(*HOURS))
            rows = (rec.ts >= plug - WATCHED_MS) & (rec.ts < plug + int(
                charge.taper_end_min * MINUTE_MS) + AFTER_MS)
            ts = rec.ts[rows]
            minute = (ts - plug) // MINUTE_MS
            on = (minute >= 0) & (minute < charge.draw_w.size)
            power = rec.aggregate[rows] + np.where(
                on, charge.draw_w[np.clip(minute, 0, charge.draw_w.size - 1)], 0.0)
            day0 = int(ts[0]) // DAY_MS * DAY_MS
            piece = Piece(f"{house}-c{n}", house, ts, power, ORIGIN_MS - day0, plug)
            control = Piece(f"{house}-c{n}-control", house, ts, rec.aggregate[rows],
                            ORIGIN_MS - day0, plug)
            played.append((piece, control, charge))
    raised: dict[str, list[tuple[int, int]]] = {}  # device -> (alarm time, step time), real
    pieces = [p for charged, control, _ in played for p in (charged, control)]
    controls = {control.device_id for _, control, _ in played}
    control_alarms = 0
    for piece, alarm in replay_pieces(pieces):
        if alarm.kind is AlarmKind.EBIKE_CHARGING and alarm.state is AlarmState.RAISE:
            at = real_ms(piece, alarm.ts_ms)
            step = real_ms(piece, int(alarm.evidence["window"]["start_ms"]))
            raised.setdefault(piece.device_id, []).append((at, step))
            control_alarms += piece.device_id in controls \
                and at >= int(piece.ts[0]) + CONTROL_WARMUP_MS
    control_days = sum(max(int(c.ts[-1]) - int(c.ts[0]) - CONTROL_WARMUP_MS, 0)
                       for _, c, _ in played) / DAY_MS
    charges = []
    for piece, control, charge in played:
        plug = piece.count_from_ms
        end = plug + int(charge.taper_end_min * MINUTE_MS)
        background = any(plug - HOUR_MS <= at <= end + HOUR_MS
                         for at, _ in raised.get(control.device_id, []))
        found = [at for at, step in raised.get(piece.device_id, [])
                 if plug <= at <= end and (not background
                                           or abs(step - plug) <= STEP_TOLERANCE_MS)]
        charges.append(PlayedCharge(piece.house, plug, charge, min(found) if found else None))
    return RecallResult(houses, seed, charges, control_alarms, control_days)


def split_recall(data_dir: Path, split: str, per_house: int = 100, seed: int = 1) -> RecallResult:
    return play_charges(data_dir, HOUSES[split], per_house, seed)
