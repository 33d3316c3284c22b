"""Photoelectric smoke detectors: near-zero obscuration with dust and noise, the room's
temperature, and a battery discharging over years.

The detector's own logic runs on what it measures (after any fault): it raises ``smoke_alarm``
once obscuration has stayed at or above its alarm level for 5 s, reports every second while
above its pre-alarm level (so a short cooking spike is seen and seen to be short), and sends
``low_battery`` once when the battery falls to 20 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gongzhi.simulators.estate import Role
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.signals.daily import DAY_MS, FloatArray, IntArray, indoor_temp_c, local_hour

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
    def __init__(self, layout: EstateLayout, devices: IntArray, rng: np.random.Generator,
                 start_ms: int) -> None:
        placed = [layout.devices[int(i)] for i in devices]
        n = len(placed)
        self.corridor = np.array([d.role is Role.CORRIDOR_SMOKE for d in placed])
        self.utc_offset_h = np.array([layout.estates[layout.buildings[d.building].estate_index]
                                      .utc_offset_h for d in placed])
        self.alarm_db_m = np.array([d.record.setting("smoke_alarm_db_m", ALARM_DB_M)
                                    for d in placed])
        self.dust_db_m = rng.uniform(0.002, 0.012, n)
        self.temp_offset_c = rng.normal(0.0, 0.8, n) - 1.0 * self.corridor
        # Lithium cells last 3-5 years: 0.05-0.09 %/day; the estate's detectors were fitted
        # over the past years, none is below 30 % at the start.
        self.battery_start_pct = rng.uniform(30.0, 100.0, n)
        self.battery_pct_per_day = rng.uniform(0.05, 0.09, n)
        self.start_ms = start_ms

        # Fault inputs (NaN / 0: no effect).
        self.smoke_set = np.full(n, np.nan)
        self.temp_add_c = np.zeros(n)
        self.battery_set = np.full(n, np.nan)

        # The detector's own state.
        self.above_since = np.full(n, -1, dtype=np.int64)
        self.alarmed = np.zeros(n, dtype=np.bool_)
        self.low_battery_sent = np.zeros(n, dtype=np.bool_)

    def sample(self, local: IntArray, ts: IntArray, rng: np.random.Generator) -> dict[str,
                                                                                     FloatArray]:
        k = len(local)
        hour = local_hour(ts, self.utc_offset_h[local])
        smoke = self.dust_db_m[local] + np.abs(rng.normal(0.0, 0.003, k))
        forced = self.smoke_set[local]
        smoke = np.where(np.isnan(forced), smoke, forced + np.abs(rng.normal(0.0, 0.004, k)))
        temp = (indoor_temp_c(hour) + self.temp_offset_c[local] + self.temp_add_c[local]
                + rng.normal(0.0, 0.15, k))
        days = (ts - self.start_ms) / DAY_MS
        battery = self.battery_start_pct[local] - self.battery_pct_per_day[local] * days
        battery_forced = self.battery_set[local]
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
