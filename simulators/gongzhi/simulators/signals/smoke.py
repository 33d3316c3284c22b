"""Photoelectric smoke detectors: near-zero obscuration with dust and noise, the room's
temperature, and a battery discharging over years.

The detector's own logic runs on what it measures (after any fault): it raises ``smoke_alarm``
once obscuration has stayed at or above its alarm level for 5 s, reports every second while
above its pre-alarm level (so a short cooking spike is seen and seen to be short), and sends
``low_battery`` once when the battery falls to 20 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import (
    DAY_MS,
    FloatArray,
    IntArray,
    daily_table,
    indoor_temp_c,
    local_slot,
)
from gongzhi.simulators.signals.noise import CounterNoise

ALARM_DB_M = 0.2
ALARM_HOLD_MS = 5_000
ALARM_CLEAR_DB_M = 0.15
PRE_ALARM_DB_M = 0.1
FAST_REPORT_MS = 1_000
LOW_BATTERY_PCT = 20.0


@dataclass(frozen=True, slots=True)
class DeviceEventOut:
    local: int
    ts_ms: int
    event: str
    detail: dict[str, float]


class SmokeModel:
    # Fault inputs and their neutral values (see Fault.inputs).
    NEUTRAL_INPUTS: ClassVar[Mapping[str, float]] = {"smoke_db_m": np.nan, "temp_add_c": 0.0,
                                        "battery_pct": np.nan}

    def __init__(self, layout: EstateLayout, devices: IntArray, rng: np.random.Generator,
                 start_ms: int, noise: CounterNoise) -> None:
        placed = [layout.devices[int(i)] for i in devices]
        n = len(placed)
        self.noise = noise
        self.corridor = np.array([d.role is Role.CORRIDOR_SMOKE for d in placed], dtype=np.bool_)
        self.utc_offset_ms = np.array(
            [round(layout.estates[layout.buildings[d.building].estate_index].utc_offset_h
                   * 3_600_000) for d in placed], dtype=np.int64)
        self.alarm_db_m = np.array([d.record.setting("smoke_alarm_db_m", ALARM_DB_M)
                                    for d in placed])
        self.dust_db_m = rng.uniform(0.002, 0.012, n)
        self.temp_offset_c = rng.normal(0.0, 0.8, n) - 1.0 * self.corridor
        # Lithium cells last 3-5 years: 0.05-0.09 %/day; the estate's detectors were fitted
        # over the past years, none is below 30 % at the start.
        self.battery_start_pct = rng.uniform(30.0, 100.0, n)
        self.battery_pct_per_day = rng.uniform(0.05, 0.09, n)
        self.start_ms = start_ms

        # The detector's own state.
        self.above_since = np.full(n, -1, dtype=np.int64)
        self.alarmed = np.zeros(n, dtype=np.bool_)
        self.low_battery_sent = np.zeros(n, dtype=np.bool_)

    def sample(self, local: IntArray, ts: IntArray, key: IntArray, count: IntArray,
               inputs: dict[str, FloatArray]) -> dict[str, FloatArray]:
        noise = self.noise
        slot = local_slot(ts, self.utc_offset_ms[local])
        smoke = self.dust_db_m[local] + 0.003 * np.abs(noise.normal(10, key, count))
        forced = inputs["smoke_db_m"]
        smoke = np.where(np.isnan(forced), smoke,
                         forced + 0.004 * np.abs(noise.normal(11, key, count)))
        temp = (daily_table(indoor_temp_c)[slot] + self.temp_offset_c[local]
                + inputs["temp_add_c"] + 0.15 * noise.normal(12, key, count))
        days = (ts - self.start_ms) / DAY_MS
        battery = self.battery_start_pct[local] - self.battery_pct_per_day[local] * days
        battery_forced = inputs["battery_pct"]
        battery = np.where(np.isnan(battery_forced), battery, battery_forced)
        return {"smoke_db_m": smoke, "temp_c": temp, "battery_pct": np.floor(battery)}

    def react(self, local: IntArray, ts: IntArray, values: dict[str, FloatArray]) -> tuple[
            list[DeviceEventOut], np.ndarray]:
        """The detector's logic on what it measured: events to send, and which devices report
        again in a second (pre-alarm)."""
        events: list[DeviceEventOut] = []
        smoke = values["smoke_db_m"]
        above = smoke >= self.alarm_db_m[local]
        since = self.above_since[local]
        since = np.where(above, np.where(since < 0, ts, since), -1)
        self.above_since[local] = since
        clear = smoke < ALARM_CLEAR_DB_M
        alarmed = self.alarmed[local] & ~clear
        fire = above & ~alarmed & (ts - since >= ALARM_HOLD_MS)
        for i in np.flatnonzero(fire):
            events.append(DeviceEventOut(int(local[i]), int(ts[i]), "smoke_alarm",
                                         {"smoke_db_m": round(float(smoke[i]), 3)}))
        self.alarmed[local] = alarmed | fire

        battery = values["battery_pct"]
        low = battery <= LOW_BATTERY_PCT
        sent = self.low_battery_sent[local] & (battery <= LOW_BATTERY_PCT + 5)
        for i in np.flatnonzero(low & ~sent):
            events.append(DeviceEventOut(int(local[i]), int(ts[i]), "low_battery",
                                         {"battery_pct": float(battery[i])}))
        self.low_battery_sent[local] = sent | low
        return events, smoke >= PRE_ALARM_DB_M
