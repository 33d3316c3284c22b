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

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.learning import huber_step, smoothing
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import IDLE, AlarmTrack, IntArray

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


class BaselineDetector(Stateful):
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

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.rule.metric)
        present = ~np.isnan(value)
        slots, ts, x = obs.local[present], obs.ts[present], value[present]
        hour = (ts // HOUR_MS) % BINS
        new = self.first_ts[slots] == 0
        self.first_ts[slots[new]] = ts[new]
        count = self.count[slots, hour].astype(np.int64)
        level = np.where(count > 0, self.level[slots, hour], x)
        residual = x - level
        sigma = 1.2533 * self.scale[slots]  # mean absolute deviation to standard deviation
        limit = np.maximum(self.rule.k * sigma, self.rule.min_dev)
        warm = (count >= self.rule.warm_count) & (ts - self.first_ts[slots] >= self.rule.warm_ms)
        low = warm & (residual <= -limit) if self.rule.below else np.zeros_like(warm)
        high = warm & (residual >= limit) if self.rule.above else np.zeros_like(warm)
        breach = low | high
        cleared = np.abs(residual) < limit / 2
        moves = self.track.step(slots, ts, breach, cleared & ~breach, self.rule.hold_ms, x,
                                np.abs(residual))
        self.direction[slots[moves.raised]] = np.where(low[moves.raised], -1, 1)

        # Learn only from quiet observations: nothing pending, nothing raised.
        quiet = (self.track.state[slots] == IDLE) & (self.track.pending[slots] < 0) & ~breach
        s, h, xq = slots[quiet], hour[quiet], x[quiet]
        dt = ts[quiet] - self.last_ts[s]
        alpha = smoothing(dt, self.rule.tau_ms, count[quiet] + 1)
        step_limit = np.maximum(3 * sigma[quiet], self.rule.min_dev / 5)
        self.level[s, h] = huber_step(level[quiet], xq, alpha, step_limit)
        self.count[s, h] = np.minimum(count[quiet] + 1, 65535)
        scale_alpha = smoothing(dt, 24 * self.rule.tau_ms, self.count[s].sum(axis=1))
        abs_res = np.minimum(np.abs(residual[quiet]), step_limit)
        self.scale[s] += scale_alpha * (abs_res - self.scale[s])
        self.last_ts[s] = ts[quiet]

        return [self._alarm(int(slots[i]), int(ts[i]), float(x[i]), float(level[i]),
                            float(limit[i]), state) for i, state in moves.each()]

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
