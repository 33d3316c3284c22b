"""Leak rules of a cumulative water meter (the catalogue's ``FlowRule`` and ``VolumeRule``).

Flow: the meter advanced at every report with no pause of ``pause_ms`` for ``hold_ms`` (a
running cistern, a dripping pipe). Volume: what the meter advanced within the last
``window_ms``, kept in hour buckets, reached ``volume`` (a tap left open, a burst pipe). A meter
reading lower than its last (replaced, reset) starts both afresh; the first reading of a meter
only sets its level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.catalogue import FlowRule, VolumeRule
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.thresholds import per_device
from gongzhi.gateway.detection.track import AlarmTrack, IntArray

HOUR_MS = 3_600_000
RESOLUTION_M3 = 0.0005  # half a litre: a 1 L meter's reading that moved


class FlowDetector(Stateful):
    DEVICE_STATE = ("last", "run_start", "last_move")
    DERIVED = ("hold", "_globals")
    NESTED = ("track",)

    def __init__(self, rule: FlowRule, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n = len(records)
        self.rule = rule
        self.hold = (per_device(records, rule.setting, rule.hold_ms / HOUR_MS) * HOUR_MS
                     ).astype(np.int64)
        self.last = np.full(n, np.nan)
        self.run_start = np.full(n, -1, np.int64)  # the run of flow since; -1: standing
        self.last_move = np.full(n, -1, np.int64)
        self.track = AlarmTrack(n, 0)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return self.track.nbytes + sum(a.nbytes for a in (self.hold, self.last, self.run_start,
                                                            self.last_move))

    def running_since(self, slot: int) -> int:
        """Since when the meter has flowed without a pause (-1: it stands)."""
        return int(self.run_start[slot])

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.rule.metric)
        present = ~np.isnan(value)
        s, ts, v = obs.local[present], obs.ts[present], value[present]
        moved = v - self.last[s]
        self.last[s] = v
        back = moved < 0  # a replaced or reset meter: start afresh
        advanced = moved >= RESOLUTION_M3
        # A report that did not move, ``pause_ms`` or more after the last that did, is a pause.
        paused = ~advanced & (ts - self.last_move[s] >= self.rule.pause_ms)
        fresh = advanced & (self.run_start[s] < 0)
        self.run_start[s[fresh]] = ts[fresh]
        self.last_move[s[advanced]] = ts[advanced]
        stopped = back | paused
        self.run_start[s[stopped]] = -1
        flowing = self.run_start[s] >= 0
        run_ms = np.where(flowing, ts - self.run_start[s], 0)
        breach = flowing & (run_ms >= self.hold[s])
        moves = self.track.step(s, ts, breach, ~flowing, 0, v, run_ms.astype(np.float64))
        return [self._alarm(int(s[i]), int(ts[i]), state) for i, state in moves.each()]

    def _alarm(self, slot: int, ts: int, state: AlarmState) -> Alarm:
        onset = int(self.track.onset[slot])
        evidence = {"rule": "continuous_flow", "metric": self.rule.metric,
                    "hold_h": float(self.hold[slot]) / HOUR_MS,
                    "pause_min": self.rule.pause_ms / 60_000,
                    "reading_m3": float(self.last[slot])}
        if state is AlarmState.RAISE:
            evidence["flowing_since_ms"] = int(self.run_start[slot])
        return self._index.alarm(int(self._globals[slot]), self.rule.kind, onset, ts, state,
                                 evidence)


class VolumeDetector(Stateful):
    DEVICE_STATE = ("last", "buckets", "bucket_hour")
    DERIVED = ("volume", "_globals")
    NESTED = ("track",)

    def __init__(self, rule: VolumeRule, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n = len(records)
        self.rule = rule
        self.hours = max(1, rule.window_ms // HOUR_MS)
        self.volume = per_device(records, rule.setting, rule.volume)
        self.last = np.full(n, np.nan)
        self.buckets = np.zeros((n, self.hours))  # m³ used per hour, a ring
        self.bucket_hour = np.full(n, -1, np.int64)  # the hour of the ring's newest bucket
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return self.track.nbytes + sum(a.nbytes for a in (self.volume, self.last, self.buckets,
                                                            self.bucket_hour))

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.rule.metric)
        present = ~np.isnan(value)
        s, ts, v = obs.local[present], obs.ts[present], value[present]
        moved = np.nan_to_num(v - self.last[s], nan=0.0)
        self.last[s] = v
        hour = ts // HOUR_MS
        for i in range(s.size):  # few meters report at once; the ring moves per meter
            slot, h = int(s[i]), int(hour[i])
            passed = h - int(self.bucket_hour[slot])
            if moved[i] < 0 or passed >= self.hours or self.bucket_hour[slot] < 0:
                self.buckets[slot] = 0.0
            elif passed > 0:
                for k in range(1, passed + 1):
                    self.buckets[slot, (int(self.bucket_hour[slot]) + k) % self.hours] = 0.0
            self.bucket_hour[slot] = max(h, int(self.bucket_hour[slot]))
            self.buckets[slot, h % self.hours] += max(float(moved[i]), 0.0)
        used = self.buckets[s].sum(axis=1)
        limit = self.volume[s]
        breach = used >= limit
        moves = self.track.step(s, ts, breach, used < 0.9 * limit, 0, used, used)
        return [self._alarm(int(s[i]), int(ts[i]), float(used[i]), state)
                for i, state in moves.each()]

    def _alarm(self, slot: int, ts: int, used: float, state: AlarmState) -> Alarm:
        onset = int(self.track.onset[slot])
        evidence = {"rule": "daily_volume", "metric": self.rule.metric,
                    "volume_m3": float(self.volume[slot]), "used_m3": round(used, 4),
                    "window_h": self.rule.window_ms / HOUR_MS,
                    "reading_m3": float(self.last[slot])}
        return self._index.alarm(int(self._globals[slot]), self.rule.kind, onset, ts, state,
                                 evidence)
