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
from gongzhi.gateway.detection.arithmetic import PAIRWISE_BLOCK, row_sum
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.thresholds import per_device
from gongzhi.gateway.detection.track import (
    AlarmTrack,
    FloatArray,
    IntArray,
    Move,
    ObservesMoves,
    TrackState,
    advance,
    moves_of_rows,
)

HOUR_MS = 3_600_000
RESOLUTION_M3 = 0.0005  # half a litre: a 1 L meter's reading that moved


class FlowDetector(ObservesMoves, Stateful):
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

    row_wise = True  # each reading against its own meter's last (``rules.row_wise``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        v = np.ascontiguousarray(obs.column(self.rule.metric))
        track, meters = self.track.arrays(), (self.last, self.run_start, self.last_move)
        return moves_of_rows(
            slots.size,
            lambda at: _flow_rows(track, self.track.clear_hold_ms, meters, self.hold,
                                  self.rule.pause_ms, slots, ts, v, at),
            lambda i, state: self._alarm(int(slots[i]), int(ts[i]), state))

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


class VolumeDetector(ObservesMoves, Stateful):
    DEVICE_STATE = ("last", "buckets", "bucket_hour")
    DERIVED = ("volume", "_globals")
    NESTED = ("track",)

    def __init__(self, rule: VolumeRule, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n = len(records)
        self.rule = rule
        self.hours = max(1, rule.window_ms // HOUR_MS)
        if self.hours > PAIRWISE_BLOCK:  # (the catalogue's rule is a day's)
            raise ValueError(f"{rule.kind.value}: a window of {self.hours} hours; at most "
                             f"{PAIRWISE_BLOCK} are summed as numpy does (arithmetic.row_sum)")
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

    row_wise = True  # each reading against its own meter's hours (``rules.row_wise``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        v = np.ascontiguousarray(obs.column(self.rule.metric))
        used = np.zeros(slots.size)  # each row's use in the window: an alarm's evidence
        track = self.track.arrays()
        return moves_of_rows(
            slots.size,
            lambda at: _volume_rows(track, self.track.clear_hold_ms, self.last, self.buckets,
                                    self.bucket_hour, self.volume, slots, ts, v, used, at),
            lambda i, state: self._alarm(int(slots[i]), int(ts[i]), float(used[i]), state))

    def _alarm(self, slot: int, ts: int, used: float, state: AlarmState) -> Alarm:
        onset = int(self.track.onset[slot])
        evidence = {"rule": "daily_volume", "metric": self.rule.metric,
                    "volume_m3": float(self.volume[slot]), "used_m3": round(used, 4),
                    "window_h": self.rule.window_ms / HOUR_MS,
                    "reading_m3": float(self.last[slot])}
        return self._index.alarm(int(self._globals[slot]), self.rule.kind, onset, ts, state,
                                 evidence)


@compiled
def _flow_rows(track: TrackState, clear_hold_ms: int,
               meters: tuple[FloatArray, IntArray, IntArray],
               hold: IntArray, pause_ms: int, slots: IntArray, ts: IntArray, v: FloatArray,
               start: int) -> tuple[int, int]:
    """Each reading (NaN: not reported) from row ``start`` on: the run of flow it continues,
    starts or ends, until an alarm moves (``track.moves_of_rows``)."""
    last, run_start, last_move = meters
    for i in range(start, slots.size):
        x, j, t = v[i], slots[i], ts[i]
        if x != x:
            continue
        moved = x - last[j]  # (NaN after no reading: neither back nor advanced)
        last[j] = x
        advanced = moved >= RESOLUTION_M3
        if advanced and run_start[j] < 0:
            run_start[j] = t
        # A report that did not move, ``pause_ms`` or more after the last that did, is a pause.
        paused = not advanced and t - last_move[j] >= pause_ms
        if advanced:
            last_move[j] = t
        if moved < 0 or paused:  # a replaced or reset meter starts afresh
            run_start[j] = -1
        flowing = run_start[j] >= 0
        run_ms = t - run_start[j] if flowing else 0
        breach = bool(flowing and run_ms >= hold[j])
        move = advance(track, clear_hold_ms, j, t, breach, not flowing, 0, x, float(run_ms))
        if move:
            return i + 1, move
    return slots.size, 0


@compiled
def _volume_rows(track: TrackState, clear_hold_ms: int, last: FloatArray,
                 buckets: FloatArray, bucket_hour: IntArray, volume: FloatArray,
                 slots: IntArray, ts: IntArray, v: FloatArray, used: FloatArray,
                 start: int) -> tuple[int, int]:
    """Each reading (NaN: not reported) from row ``start`` on into its meter's hour buckets,
    and the window's use (``used``) against the meter's volume, until an alarm moves
    (``track.moves_of_rows``)."""
    hours = buckets.shape[1]
    for i in range(start, slots.size):
        x, j = v[i], slots[i]
        if x != x:
            continue
        moved = x - last[j]
        if moved != moved:  # the meter's first reading only sets its level
            moved = 0.0
        last[j] = x
        h = ts[i] // HOUR_MS
        passed = h - bucket_hour[j]
        if moved < 0 or passed >= hours or bucket_hour[j] < 0:
            buckets[j, :] = 0.0
        elif passed > 0:
            for k in range(1, passed + 1):
                buckets[j, (bucket_hour[j] + k) % hours] = 0.0
        bucket_hour[j] = max(h, bucket_hour[j])
        buckets[j, h % hours] += max(moved, 0.0)
        used[i] = row_sum(buckets[j])
        move = advance(track, clear_hold_ms, j, ts[i], bool(used[i] >= volume[j]),
                       bool(used[i] < 0.9 * volume[j]), 0, used[i], used[i])
        if move:
            return i + 1, move
    return slots.size, 0
