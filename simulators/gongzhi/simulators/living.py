"""Daily living of one person at home, as a household's electrical monitor (whole-home power,
one report a minute) and water meter (cumulative m³, one report every 15 min) record it, with
the faults of passive care:

- ``no_activity`` (a fall): from its time on, nobody switches anything or draws water; what
  was on stays on: with the probability ``left_on_share`` of ``living_fit.json`` (the share of
  the real homes' waking minutes after which something stayed on for an hour) a light switched
  on with the last use before the fall stays on to the end, else everything is off but the base
  load and the fridge; a person who falls while out (inside the day's outing) is not at home:
  what they switched on before going ran its course, everything is off;
- ``away`` (a trip): the same between its start and end, and life again after;
- ``water_leak``: a constant flow added to the meter from its time on;
- ``power_cut``: the monitor reports 0 W at 0 V between its start and end (its battery keeps
  it talking); water still flows.

Every parameter of a person is drawn from the distributions in ``living_fit.json``, fitted to
real homes' recordings (``gongzhi.evaluation.welfare_fit``), never from the detector's settings:
the wake time per weekday or weekend, the bed time, the number of appliance uses per waking
hour, the day's longest outing, the kettle's and microwave's power. A base load with a fridge
cycling (steps under 100 W) runs all day and night. Pure: a seed in, arrays out.

Seeds: ``DEVELOPMENT_SEEDS`` are for building and checking; ``REPORT_SEEDS`` only for reported
figures (the bench); the two never overlap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WATER_REPORT_MS = 15 * MINUTE_MS
FIT = Path(__file__).with_name("living_fit.json")
DEVELOPMENT_SEEDS = tuple(range(100, 200))
REPORT_SEEDS = tuple(range(9000, 9100))

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@cache
def fitted() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIT.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True, slots=True)
class Fault:
    """``kind``: no_activity, away, water_leak or power_cut; ``end_ms`` None: to the end."""

    kind: str
    start_ms: int
    end_ms: int | None = None
    litres_per_hour: float = 20.0

    def covers(self, ts: IntArray) -> npt.NDArray[np.bool_]:
        end = np.iinfo(np.int64).max if self.end_ms is None else self.end_ms
        return (ts >= self.start_ms) & (ts < end)


@dataclass(frozen=True, slots=True)
class Person:
    """One person's habits, drawn once per seed."""

    wake_weekday_h: float
    wake_weekend_h: float
    wake_sd_h: float
    bed_h: float
    bed_sd_h: float
    uses_per_hour: float
    outing_mu: float
    outing_sigma: float
    kettle_w: float
    microwave_w: float
    base_w: float


def draw_person(rng: np.random.Generator) -> Person:
    f = fitted()
    wd, we, bed = f["wake_weekday_h"], f["wake_weekend_h"], f["bed_h"]
    # A person's own habit is drawn from the population; their day-to-day scatter around it
    # is a fraction of the population's spread (people are more regular than a crowd).
    return Person(
        wake_weekday_h=float(np.clip(rng.normal(wd["median"], wd["sd"]), 5.0, 10.0)),
        wake_weekend_h=float(np.clip(rng.normal(we["median"], we["sd"]), 5.0, 11.0)),
        wake_sd_h=float(wd["sd"]) * float(rng.uniform(0.3, 0.6)),
        bed_h=float(np.clip(rng.normal(bed["median"], bed["sd"]), 19.0, 24.5)),
        bed_sd_h=float(bed["sd"]) * float(rng.uniform(0.3, 0.6)),
        uses_per_hour=float(max(0.5, rng.normal(f["uses_per_hour"]["median"],
                                                f["uses_per_hour"]["sd"] / 2))),
        outing_mu=float(f["outing_h_lognormal"]["mu"]),
        outing_sigma=float(f["outing_h_lognormal"]["sigma"]),
        kettle_w=float(f["kettle_w"]) * float(rng.uniform(0.85, 1.1)),
        microwave_w=float(f["microwave_w"]) * float(rng.uniform(0.85, 1.15)),
        base_w=float(rng.uniform(60.0, 140.0)),
    )


@dataclass(slots=True)
class Living:
    """The recorded days: monitor rows (``ts``, ``power_w``, ``voltage_v``) and meter rows
    (``water_ts``, ``water_m3``); ``wake_ms`` the true wake time of each simulated day,
    ``outings`` its outing (start, end); ``left_on``: a fall left a light on."""

    ts: IntArray
    power_w: FloatArray
    voltage_v: FloatArray
    water_ts: IntArray
    water_m3: FloatArray
    wake_ms: list[int] = field(default_factory=list)
    outings: list[tuple[int, int]] = field(default_factory=list)
    left_on: bool = False


LEFT_ON_W = 180.0  # a light left on by a person who fell (the simulated lights' power)

# (name, power W or None for the person's own kettle/microwave, minutes low-high, litres)
APPLIANCES = (
    ("kettle", None, 2, 4, 0.0),
    ("microwave", None, 2, 6, 0.0),
    ("lights", 180.0, 20, 180, 0.0),
    ("television", 160.0, 30, 150, 0.0),
    ("cooker", 1500.0, 10, 35, 4.0),
    ("tap", 0.0, 1, 2, 5.0),
    ("toilet", 0.0, 1, 1, 6.0),
)


def simulate(seed: int, start_ms: int, days: int, utc_offset_h: float = 8.0,
             faults: tuple[Fault, ...] = ()) -> Living:
    """``days`` days from ``start_ms`` (a local midnight) of the person of ``seed``."""
    rng = np.random.default_rng(seed)
    person = draw_person(rng)
    n = days * 24 * 60
    ts = start_ms + np.arange(n, dtype=np.int64) * MINUTE_MS
    power = np.full(n, person.base_w)
    minute = np.arange(n)
    fridge_period = int(rng.integers(40, 110))
    fridge_on = int(rng.integers(12, 30))
    power += np.where((minute + int(rng.integers(0, 60))) % fridge_period < fridge_on,
                      float(rng.uniform(50.0, 90.0)), 0.0)
    power += rng.normal(0.0, 4.0, n)
    litres = np.zeros(n)
    offset = int(utc_offset_h * HOUR_MS)
    wakes: list[int] = []
    outings: list[tuple[int, int]] = []
    used: list[int] = []  # when the person switched something on
    for day in range(days):
        midnight = start_ms + day * DAY_MS
        weekend = ((midnight + offset) // DAY_MS + 3) % 7 >= 5
        wake_h = (person.wake_weekend_h if weekend else person.wake_weekday_h) \
            + rng.normal(0.0, person.wake_sd_h)
        bed_h = max(person.bed_h + rng.normal(0.0, person.bed_sd_h), wake_h + 8.0)
        wake = midnight + int(wake_h * HOUR_MS)
        bed = midnight + int(bed_h * HOUR_MS)
        wakes.append(wake)
        uses = [wake, wake + int(rng.integers(2, 10)) * MINUTE_MS]  # up: a light, the kettle
        count = rng.poisson(person.uses_per_hour * (bed - wake) / HOUR_MS)
        uses += sorted(rng.integers(wake, bed, count).tolist())
        outing_h = float(np.exp(rng.normal(person.outing_mu, person.outing_sigma)))
        out_start = int(rng.integers(wake + HOUR_MS, max(wake + HOUR_MS + 1,
                                                         bed - int(outing_h * HOUR_MS))))
        # Home at least an hour before bed, switching a light on when back.
        out_end = min(out_start + int(outing_h * HOUR_MS), bed - HOUR_MS)
        outings.append((out_start, out_end))
        uses.append(out_end)
        for k, when in enumerate(uses):
            if out_start <= when < out_end:
                continue
            name, watts, low, high, water = APPLIANCES[0 if k == 1 else 2 if k == 0 else
                                                        int(rng.integers(0, len(APPLIANCES)))]
            if watts is None:
                watts = person.kettle_w if name == "kettle" else person.microwave_w
            i = (when - start_ms) // MINUTE_MS
            length = int(rng.integers(low, high + 1))
            # A late evening's use may fall past the block's last minute: the next block's.
            if not _alive(faults, when) or i >= n:
                continue
            power[i:i + length] += watts
            used.append(when)
            litres[i] += water if water else (float(rng.uniform(1.0, 4.0))
                                              if rng.random() < 0.3 else 0.0)
        # The morning wash and an evening shower draw water without much power.
        for when, amount in ((wake + 15 * MINUTE_MS, rng.uniform(8.0, 20.0)),
                             (bed - HOUR_MS, rng.uniform(20.0, 50.0) if rng.random() < 0.5
                              else 0.0)):
            if _alive(faults, when) and amount and when - start_ms < n * MINUTE_MS:
                litres[(when - start_ms) // MINUTE_MS] += float(amount)
    left_on = False
    for fault in faults:
        # Fallen while out: not at home, nothing of theirs left on there (the light of their
        # last use before going would otherwise shine on from before the outing).
        out = any(start <= fault.start_ms < end for start, end in outings)
        if fault.kind == "no_activity" and leaves_light_on(seed) and not out:
            last_use = max((u for u in used if u < fault.start_ms), default=fault.start_ms)
            power[ts >= last_use] += LEFT_ON_W
            left_on = True
    for fault in faults:
        if fault.kind == "water_leak":
            litres[fault.covers(ts)] += fault.litres_per_hour / 60.0
    voltage = 220.0 + rng.normal(0.0, 1.5, n)
    for fault in faults:
        if fault.kind == "power_cut":
            cut = fault.covers(ts)
            power[cut] = 0.0
            voltage[cut] = 0.0
    cumulative = float(rng.uniform(50.0, 900.0)) + np.cumsum(litres) / 1000.0
    water_rows = np.arange(0, n, WATER_REPORT_MS // MINUTE_MS)
    return Living(ts, np.round(np.maximum(power, 0.0), 1), np.round(voltage, 1),
                  ts[water_rows], np.floor(cumulative[water_rows] * 1000.0) / 1000.0, wakes,
                  outings, left_on)


def leaves_light_on(seed: int) -> bool:
    """Whether the person of ``seed`` falling leaves a light on (a stream of its own: the days
    stay the same either way)."""
    return bool(np.random.default_rng([seed, 2]).random() < float(fitted()["left_on_share"]))


def _alive(faults: tuple[Fault, ...], when: int) -> bool:
    """Somebody is at home and able to use things at ``when``."""
    stamp = np.array([when], np.int64)
    return not any(f.kind in ("no_activity", "away") and bool(f.covers(stamp)[0])
                   for f in faults)
