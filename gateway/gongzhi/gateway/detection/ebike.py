"""E-bike charging from the load signature on a household or corridor circuit (DOMAIN.md): a
step of 100-400 W over the circuit's base load, held flat (constant current) for at least
``CC_MIN_MS``, then tapering (constant voltage) for ``CV_MIN_MS``. A step taken at night
(22:00-06:00 local), when people plug chargers in and few appliances run for an hour, is
recognised once its plateau has held for ``NIGHT_CC_MS``, without waiting for the taper.

A charger plugged in while a large appliance runs hides its step in the appliance's swings.
The circuit's floor shows it anyway: the lowest load of the last hour rises above the lowest of
the last day by 100-400 W (fridges cycle, they do not lift the floor; air conditioners lift it
by more). A rise that begins at night and holds for ``FLOOR_HOLD_MS`` is taken for a charger
(a television switched on in the evening lifts the floor too, but not at night).

The base is the lowest load of the last hour before the step, so cycling appliances (a
fridge) do not inflate it. During the constant-current stage, loads switched on top are
ignored (the excess rises above the band) and a load that was on at the step and switches off
re-levels the plateau; a drop below the band for ``GRACE_MS`` ends the candidate. The taper
must fall steadily: a fridge switching off lowers the load once, it does not taper. Appliances
rarely show both stages: a television steps and drops back, a heater steps by more than 400 W.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import AlarmTrack, IntArray
from gongzhi.gateway.detection.window import WindowMax

MINUTE_MS = 60_000
IDLE_, CC, CV = 0, 1, 2


class EbikeChargingDetector:
    METRIC = "power_w"
    STEP_MIN_W, STEP_MAX_W = 90.0, 450.0  # 100-400 W with meter tolerance
    CC_MIN_MS = 45 * MINUTE_MS
    CV_MIN_MS = 10 * MINUTE_MS
    NIGHT_CC_MS = 60 * MINUTE_MS
    NIGHT_HOURS = (22, 6)
    FLOOR_HOLD_MS = 30 * MINUTE_MS
    DAY_MS = 24 * 60 * MINUTE_MS
    TAPER = 0.08  # the CV stage must have fallen by this share of the plateau
    GRACE_MS = 5 * MINUTE_MS
    MAX_MS = 14 * 60 * MINUTE_MS  # no charge lasts longer: something else
    BASE_WINDOW_MS = 60 * MINUTE_MS
    LEVEL_TAU_MS = 20 * MINUTE_MS

    def __init__(self, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int, utc_offset_h: float = 8.0) -> None:
        n = len(records)
        self.utc_offset_ms = round(utc_offset_h * 3_600_000)
        self.phase = np.zeros(n, np.int8)
        self.lowest = WindowMax(n, self.BASE_WINDOW_MS)  # of -power, while idle
        self.hour_floor = WindowMax(n, self.BASE_WINDOW_MS)  # of -power
        self.day_floor = WindowMax(n, self.DAY_MS)  # of -power
        self.floor_since = np.zeros(n, np.int64)
        self.base = np.full(n, np.nan, np.float32)
        self.level = np.zeros(n, np.float32)
        self.cv_ratio = np.zeros(n, np.float32)  # the ratio when the taper began
        self.step_ms = np.zeros(n, np.int64)
        self.phase_ms = np.zeros(n, np.int64)  # CV start, or the start of a drop in CC
        self.last_ts = np.zeros(n, np.int64)
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.phase, self.base, self.level, self.cv_ratio,
                                      self.step_ms, self.phase_ms, self.last_ts,
                                      self.floor_since)
                   ) + self.track.nbytes + sum(w.nbytes for w in (
                       self.lowest, self.hour_floor, self.day_floor))

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.METRIC)
        present = ~np.isnan(value)
        s, ts, p = obs.local[present], obs.ts[present], value[present]
        phase, base, level = self.phase[s], self.base[s], self.level[s]
        idle, cc, cv = phase == IDLE_, phase == CC, phase == CV
        # While idle the base is the lowest load of the last hour, this reading excluded.
        idle_base = np.where(idle, -self.lowest.update(s, ts, np.where(idle, -p, -np.inf)),
                             base)
        base = np.where(idle & np.isfinite(idle_base), idle_base, base)
        excess = p - base
        ratio = excess / np.maximum(level, 1.0)
        since_step = ts - self.step_ms[s]
        dt = (ts - self.last_ts[s]).clip(0)

        start = idle & (excess >= self.STEP_MIN_W) & (excess <= self.STEP_MAX_W)
        flat = (ratio >= 0.85) & (ratio <= 1.15)
        in_band = (excess >= self.STEP_MIN_W) & (excess <= self.STEP_MAX_W)
        early = since_step < self.CC_MIN_MS
        relevel = cc & early & (ratio < 0.85) & in_band
        to_cv = cc & ~early & (ratio >= 0.1) & (ratio < 0.85)
        dropped = cc & (ratio < 0.85) & ~relevel & ~to_cv
        drop_start = np.where(dropped & (self.phase_ms[s] == 0), ts, self.phase_ms[s])
        give_up = ((dropped & (ts - drop_start >= self.GRACE_MS))
                   | (cv & (ratio < 0.1)) | (~idle & (since_step > self.MAX_MS)))
        back_to_cc = cv & flat

        level_alpha = 1.0 - np.exp(-dt / self.LEVEL_TAU_MS)
        steady = cc & flat
        self.level[s[steady]] = (level + level_alpha * (excess - level))[steady]
        self.level[s[relevel]] = excess[relevel]
        self.phase_ms[s[steady | relevel]] = 0
        self.phase_ms[s[dropped]] = drop_start[dropped]

        self.phase[s[start]] = CC
        self.base[s[start]] = base[start]
        self.level[s[start]] = excess[start]
        self.step_ms[s[start]] = ts[start]
        self.phase_ms[s[start]] = 0
        self.phase[s[to_cv]] = CV
        self.phase_ms[s[to_cv]] = ts[to_cv]
        self.cv_ratio[s[to_cv]] = ratio[to_cv]
        self.phase[s[back_to_cc]] = CC
        self.phase_ms[s[back_to_cc]] = 0
        self.phase[s[give_up]] = IDLE_

        tapered = (cv & ~give_up & ~back_to_cc
                   & (ts - self.phase_ms[s] >= self.CV_MIN_MS)
                   & (ratio <= self.cv_ratio[s] - self.TAPER))
        night = self._night(self.step_ms[s])
        held = (self.phase[s] == CC) & night & (ts - self.step_ms[s] >= self.NIGHT_CC_MS)
        rise = self.day_floor.update(s, ts, -p) - self.hour_floor.update(s, ts, -p)
        raised = (rise >= self.STEP_MIN_W) & (rise <= self.STEP_MAX_W)
        since = self.floor_since[s]
        self.floor_since[s] = np.where(raised, np.where(since == 0, ts, since), 0)
        since = self.floor_since[s]
        floored = (since > 0) & self._night(since) & (ts - since >= self.FLOOR_HOLD_MS)
        charging = tapered | held | floored
        quiet = (self.phase[s] == IDLE_) & (self.floor_since[s] == 0)
        moves = self.track.step(s, ts, charging, quiet, 0, p, excess)
        self.last_ts[s] = ts
        alarms = []
        for i, state in moves.each():
            alarms.append(self._alarm(int(s[i]), int(ts[i]), float(p[i]), float(base[i]),
                                      float(level[i]), state))
        return alarms

    def _night(self, ts: IntArray) -> np.ndarray:
        hour = ((ts + self.utc_offset_ms) // 3_600_000) % 24
        return (hour >= self.NIGHT_HOURS[0]) | (hour < self.NIGHT_HOURS[1])

    def _alarm(self, slot: int, ts: int, power: float, base: float, level: float,
               state: AlarmState) -> Alarm:
        floor = int(self.floor_since[slot])
        # The floor path: the load has been on at least the floor window before it rose.
        step = floor - self.BASE_WINDOW_MS if floor > 0 and self.phase[slot] == IDLE_ else int(
            self.step_ms[slot])
        evidence = {"rule": "ebike_signature", "metric": self.METRIC, "power_w": power,
                    "base_w": base, "step_w": level, "cc_min_ms": self.CC_MIN_MS,
                    "cv_min_ms": self.CV_MIN_MS,
                    "step_band_w": [self.STEP_MIN_W, self.STEP_MAX_W],
                    "window": {"start_ms": step, "end_ms": ts}}
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(self.track.refires[slot])
        return self._index.alarm(int(self._globals[slot]), AlarmKind.EBIKE_CHARGING,
                                 int(self.track.onset[slot]), ts, state, evidence)
