"""Deviation from the device's own learned baseline that follows the daily cycle.

Per device: one level per hour of the day and one robust scale (mean absolute residual), both
learned with outlier-clipped, time-aware EWMAs (memory of about three days per hour of the day).
Learning freezes while a deviation is pending or raised, so a fault is not learned as normal.
The alarm needs the residual past max(k x scale, min_dev) for hold_ms; it catches slow faults
(a failing pump's pressure decline) long before the fixed thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.learning import decay, gaps, huber_step, smoothing
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import (
    IDLE,
    RAISED,
    UNFINISHED,
    AlarmTrack,
    FloatArray,
    IntArray,
    Move,
    ObservesMoves,
    TrackState,
    advance,
    at_rest,
    moves_of_rows,
)

HOUR_MS = 3_600_000
BINS = 24


@dataclass(frozen=True, slots=True)
class BaselineRule:
    metric: str
    below: AlarmKind | None
    above: AlarmKind | None
    min_dev: float  # in the metric's unit: smaller deviations never alarm
    k: float = 6.0  # in robust standard deviations
    hold_ms: int = 10 * 60_000
    tau_ms: int = 3 * HOUR_MS  # per hour-of-day bin: three days of that hour
    warm_count: int = 30  # observations per bin before it may alarm
    warm_ms: int = 2 * 24 * HOUR_MS  # and two days of history: every hour seen twice


# Water pressure follows the daily demand curve; a pump failing or a valve half-closed lowers
# it slowly. Only below: pressure above its usual level is not the duty matrix's "high" (an
# absolute 1.0 MPa limit). (Leakage current also drifts with humidity over days: thresholds
# serve it better.)
BASELINES: dict[DeviceType, tuple[BaselineRule, ...]] = {
    DeviceType.WATER_PRESSURE: (
        BaselineRule("pressure_mpa", AlarmKind.WATER_PRESSURE_LOW, None, min_dev=0.05),
    ),
}


class BaselineDetector(ObservesMoves, Stateful):
    DEVICE_STATE = ("level", "count", "scale", "last_ts", "first_ts", "direction")
    DERIVED = ("_globals",)
    NESTED = ("track",)

    def __init__(self, rule: BaselineRule, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        self.rule = rule
        n = len(records)
        self.level = np.zeros((n, BINS), np.float32)
        # Counts run well past 1/alpha of the time constant (about 1,100 readings of an hour at
        # 10 s): capped lower, the running-mean floor 1/count would set the memory instead.
        self.count = np.zeros((n, BINS), np.uint16)
        self.scale = np.zeros(n, np.float32)
        self.last_ts = np.zeros(n, np.int64)
        self.first_ts = np.zeros(n, np.int64)
        self.track = AlarmTrack(n, clear_hold_ms)
        self.direction = np.zeros(n, np.int8)  # -1 below, +1 above, for the open episode
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return (self.level.nbytes + self.count.nbytes + self.scale.nbytes + self.last_ts.nbytes
                + self.first_ts.nbytes + self.track.nbytes + self.direction.nbytes)

    row_wise = True  # each report against its own device's baseline (``rules.row_wise``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts, rule = obs.local, obs.ts, self.rule
        x = np.ascontiguousarray(obs.column(rule.metric))
        # The learning's decay over the gap since the device's last quiet report, by numpy (its
        # exp, not the compiler's: the two differ in the last bit, and the rule keeps its
        # arithmetic). Taken in advance for the gap since the device's last report, which is
        # the one whenever that report was quiet; the loop stops at a quiet report after one
        # that was not (``track.UNFINISHED``), whose decay is then taken (``finish``).
        gap = gaps(self.last_ts, slots, ts, x)
        decays = np.stack([decay(gap, rule.tau_ms), decay(gap, 24 * rule.tau_ms)])
        # Each row's level and limit: an alarm's evidence.
        seen = np.zeros((2, slots.size), np.float64)
        track = self.track.arrays()
        learned = (self.level, self.count, self.scale, self.last_ts, self.first_ts)
        settings = (float(rule.k), float(rule.min_dev), int(rule.warm_count), int(rule.warm_ms),
                    int(rule.hold_ms), rule.below is not None, rule.above is not None)

        def rows(start: int, stop: int, unfinished: bool) -> tuple[int, int]:
            return _baseline_rows(track, self.track.clear_hold_ms, learned, self.direction,
                                  settings, slots, ts, x, gap, decays, seen, start, stop,
                                  unfinished)

        def finish(i: int) -> None:
            decays[:, i] = decay(gap[i:i + 1], rule.tau_ms)[0], \
                decay(gap[i:i + 1], 24 * rule.tau_ms)[0]
            rows(i, i + 1, True)

        return moves_of_rows(
            slots.size, lambda at: rows(at, slots.size, False),
            lambda i, state: self._alarm(int(slots[i]), int(ts[i]), float(x[i]),
                                         float(seen[0, i]), float(seen[1, i]), state),
            finish)

    def _alarm(self, slot: int, ts: int, value: float, level: float, limit: float,
               state: AlarmState) -> Alarm:
        rule, t = self.rule, self.track
        kind = rule.below if self.direction[slot] < 0 else rule.above
        assert kind is not None
        onset = int(t.onset[slot])
        evidence = {
            "rule": "baseline", "metric": rule.metric, "value": value, "baseline": level,
            "limit": limit, "k": rule.k, "min_dev": rule.min_dev, "hold_ms": rule.hold_ms,
            "hour_of_day_utc": int((ts // HOUR_MS) % BINS), "peak": float(t.peak[slot]),
            "window": {"start_ms": onset, "end_ms": ts},
        }
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(t.refires[slot])
        return self._index.alarm(int(self._globals[slot]), kind, onset, ts, state, evidence)


# ``BaselineDetector``'s learned arrays: level, count, scale, last_ts, first_ts.
Learned = tuple[npt.NDArray[np.float32], npt.NDArray[np.uint16], npt.NDArray[np.float32],
                IntArray, IntArray]


@compiled
def _baseline_rows(track: TrackState, clear_hold_ms: int, learned: Learned,
                   direction: npt.NDArray[np.int8],
                   settings: tuple[float, float, int, int, int, bool, bool], slots: IntArray,
                   ts: IntArray, x: FloatArray, gap: IntArray, decays: FloatArray,
                   seen: FloatArray, start: int, stop: int,
                   unfinished: bool) -> tuple[int, int]:
    """Each reported value (NaN: not reported) of rows ``start`` to ``stop`` against its
    device's level for the hour (``seen``: the level and the limit), then learned if quiet,
    until an alarm moves or a quiet report's gap is not the one its decay was taken for (its
    gap is then set and the row left unfinished: ``track.moves_of_rows``). ``unfinished``: row
    ``start`` was left so and its decay is now taken: learn it first."""
    state, pending = track[0], track[1]
    level, count, scale, last_ts, first_ts = learned
    k, min_dev, warm_count, warm_ms, hold_ms, below, above = settings
    for i in range(start, stop):
        v, j = x[i], slots[i]
        if v != v:
            continue
        hour = (ts[i] // HOUR_MS) % BINS
        seen_count = np.int64(count[j, hour])
        sigma = np.float32(1.2533) * scale[j]  # mean absolute deviation to standard deviation
        move = 0
        if not (unfinished and i == start):
            if first_ts[j] == 0:
                first_ts[j] = ts[i]
            usual = np.float64(level[j, hour]) if seen_count > 0 else v
            residual = v - usual
            limit = max(np.float32(k) * sigma, np.float32(min_dev))
            warm = seen_count >= warm_count and ts[i] - first_ts[j] >= warm_ms
            low = below and warm and residual <= -limit
            breach = bool(low or (above and warm and residual >= limit))
            seen[0, i], seen[1, i] = usual, limit
            if not at_rest(state[j], pending[j], breach):
                move = advance(track, clear_hold_ms, j, ts[i], breach,
                               bool(abs(residual) < limit / 2 and not breach), hold_ms, v,
                               abs(residual))
                if move == RAISED:
                    direction[j] = -1 if low else 1
            # Learn only from quiet observations: nothing pending, nothing raised.
            if not (state[j] == IDLE and pending[j] < 0 and not breach):
                if move:
                    return i + 1, move
                continue
            if ts[i] - last_ts[j] != gap[i]:
                gap[i] = ts[i] - last_ts[j]
                return i + 1, move | UNFINISHED
        usual = seen[0, i]
        step_limit = np.float64(max(np.float32(3) * sigma, np.float32(min_dev / 5)))
        level[j, hour] = np.float32(huber_step(usual, v, smoothing(decays[0, i], seen_count + 1),
                                               step_limit))
        count[j, hour] = seen_count + 1 if seen_count < 65535 else seen_count
        total = 0
        for h in range(BINS):
            total += count[j, h]
        scale_alpha = smoothing(decays[1, i], total)
        s = np.float64(scale[j])
        scale[j] = np.float32(s + scale_alpha * (min(abs(v - usual), step_limit) - s))
        last_ts[j] = ts[i]
        if move:
            return i + 1, move
    return stop, 0
