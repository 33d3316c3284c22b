"""Sensor faults seen in a device's own signal: stuck value or noise gone (flatline), and
readings outside the plausible band of the installation (inside the sensor's physical range,
so validation let them through, but impossible where it is mounted).

Flatline: a live sensor's reading always moves a little. Per metric we learn the typical step
between readings (EWMA of |difference|) and alarm when the recent steps shrink below a
twentieth of it for ``hold_ms``: exact repeats are a stuck sensor, tiny steps a sensor whose
noise is gone (disconnected input, frozen firmware filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.learning import smoothing
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import IDLE, AlarmTrack, IntArray

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Plausible:
    metric: str
    low: float
    high: float
    hold_ms: int = 60_000


# Metrics whose readings never hold perfectly still on a live sensor, with the floor where a
# reading may legitimately pin: a gauge on an empty pipe reads exactly 0, not stuck.
FLATLINE_METRICS: dict[DeviceType, tuple[tuple[str, float], ...]] = {
    DeviceType.WATER_PRESSURE: (("pressure_mpa", 0.0),),
    DeviceType.ELECTRICAL: (("voltage_v", 0.0), ("cable_temp_c", -np.inf)),
}

# Installed bands (design choice): a riser sensor cannot read below atmospheric or above a
# 1.6 MPa gauge's full scale; mains cannot read 0 V on a monitor powered by it; a cable in a
# building is not below -30 °C.
PLAUSIBLE: dict[DeviceType, tuple[Plausible, ...]] = {
    DeviceType.WATER_PRESSURE: (Plausible("pressure_mpa", -0.02, 1.6),),
    DeviceType.ELECTRICAL: (Plausible("voltage_v", 50.0, 300.0),
                            Plausible("cable_temp_c", -30.0, 200.0)),
    DeviceType.SMOKE: (Plausible("temp_c", -30.0, 150.0),),
}


class FlatlineDetector(Stateful):
    DEVICE_STATE = ("last", "same_since", "last_ts", "short", "long", "count")
    DERIVED = ("_globals",)
    NESTED = ("track",)  # ``explained_by``: the threshold rules' tracks, theirs to carry

    SHORT_ALPHA = 0.1  # recent steps: about the last ten readings
    LONG_TAU_MS = 24 * HOUR_MS
    WARM = 100  # readings before the typical step is trusted
    RATIO = 0.05

    def __init__(self, metric: tuple[str, float], records: Sequence[DeviceRecord],
                 globals_: IntArray, index: DeviceIndex, clear_hold_ms: int,
                 hold_ms: int = 30 * 60_000, explained_by: Sequence[AlarmTrack] = ()) -> None:
        n = len(records)
        (self.metric, self.floor), self.hold_ms = metric, hold_ms
        self.reads = (self.metric,)
        # While a process alarm on the same metric is raised (pressure held low by a failed
        # pump), a still reading is explained by the process: no verdict, no learning.
        self.explained_by = tuple(explained_by)
        self.last = np.full(n, np.nan, np.float32)
        self.same_since = np.zeros(n, np.int64)
        self.last_ts = np.zeros(n, np.int64)
        self.short = np.zeros(n, np.float32)
        self.long = np.zeros(n, np.float32)
        self.count = np.zeros(n, np.uint16)
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.last, self.same_since, self.last_ts, self.short,
                                      self.long, self.count)) + self.track.nbytes

    def observe(self, obs: Observations) -> list[Alarm]:
        # Compared in the stored precision, so an exact repeat is a zero step.
        value = obs.column(self.metric).astype(np.float32)
        present = ~np.isnan(value)
        slots, ts, x = obs.local[present], obs.ts[present], value[present]
        previous = self.last[slots]
        known = ~np.isnan(previous)
        slots, ts, x, previous = slots[known], ts[known], x[known], previous[known]
        self.last[obs.local[present]] = value[present]
        step = np.abs(x - previous).astype(np.float64)
        moved = step > 0
        self.same_since[slots[moved]] = ts[moved]
        self.short[slots] += self.SHORT_ALPHA * (step - self.short[slots])
        count = self.count[slots].astype(np.int64)
        long = self.long[slots]
        pinned = x <= self.floor
        for track in self.explained_by:
            pinned |= track.state[slots] != IDLE
        warm = (count >= self.WARM) & ~pinned
        breach = warm & (self.short[slots] < self.RATIO * long)
        cleared = ~warm | (self.short[slots] > 4 * self.RATIO * long)
        moves = self.track.step(slots, ts, breach, cleared, self.hold_ms, x.astype(np.float64),
                                -self.short[slots].astype(np.float64))
        quiet = (self.track.state[slots] == IDLE) & (self.track.pending[slots] < 0) & ~pinned
        s = slots[quiet]
        alpha = smoothing(ts[quiet] - self.last_ts[s], self.LONG_TAU_MS, count[quiet] + 1)
        self.long[s] += alpha * (step[quiet] - self.long[s])
        self.count[s] = np.minimum(count[quiet] + 1, 65535)
        self.last_ts[slots] = ts
        return [self._alarm(int(slots[i]), int(ts[i]), float(x[i]), state)
                for i, state in moves.each()]

    def _alarm(self, slot: int, ts: int, value: float, state: AlarmState) -> Alarm:
        onset = int(self.track.onset[slot])
        stuck_ms = ts - int(self.same_since[slot])
        evidence = {
            "rule": "sensor_fault",
            "fault": "stuck" if stuck_ms >= self.hold_ms // 2 else "noise_gone",
            "metric": self.metric, "value": value, "stuck_ms": stuck_ms,
            "recent_step": float(self.short[slot]), "typical_step": float(self.long[slot]),
            "ratio": self.RATIO, "hold_ms": self.hold_ms,
            "window": {"start_ms": onset, "end_ms": ts},
        }
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(self.track.refires[slot])
        return self._index.alarm(int(self._globals[slot]), AlarmKind.SENSOR_FAULT, onset, ts,
                                 state, evidence)


class PlausibleRangeDetector(Stateful):
    DERIVED = ("_globals",)
    NESTED = ("track",)

    def __init__(self, band: Plausible, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        self.band = band
        self.reads = (band.metric,)
        self.track = AlarmTrack(len(records), clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return self.track.nbytes

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.band.metric)
        present = ~np.isnan(value)
        slots, ts, x = obs.local[present], obs.ts[present], value[present]
        b = self.band
        breach = (x < b.low) | (x > b.high)
        moves = self.track.step(slots, ts, breach, ~breach, b.hold_ms, x,
                                np.maximum(b.low - x, x - b.high))
        alarms = []
        for i, state in moves.each():
            slot, onset = int(slots[i]), int(self.track.onset[slots[i]])
            evidence = {"rule": "sensor_fault", "fault": "out_of_range", "metric": b.metric,
                        "value": float(x[i]), "low": b.low, "high": b.high,
                        "hold_ms": b.hold_ms, "peak": float(self.track.peak[slot]),
                        "window": {"start_ms": onset, "end_ms": int(ts[i])}}
            alarms.append(self._index.alarm(int(self._globals[slot]),
                                            AlarmKind.SENSOR_FAULT, onset, int(ts[i]),
                                            state, evidence))
        return alarms
