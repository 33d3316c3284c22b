"""Threshold rules with minimum duration and hysteresis (catalogue defaults, per-device
overrides from the registry), one vectorized track per rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.catalogue import Op, ThresholdRule
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import AlarmTrack, FloatArray, IntArray


def per_device(records: Sequence[DeviceRecord], setting: str | None,
               default: float) -> FloatArray:
    if setting is None:
        return np.full(len(records), default, np.float64)
    return np.array([r.setting(setting, default) for r in records], np.float64)


class ThresholdDetector(Stateful):
    DERIVED = ("low", "high", "_globals")  # thresholds from the devices' settings
    NESTED = ("track",)

    def __init__(self, rule: ThresholdRule, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        self.rule = rule
        self.reads = (rule.metric,)
        self.low = per_device(records, rule.setting, rule.threshold)
        self.high = (per_device(records, rule.high_setting, rule.high)
                     if rule.op is Op.OUTSIDE and rule.high is not None else None)
        self.track = AlarmTrack(len(records), clear_hold_ms)
        self._globals = globals_
        self._index = index

    @property
    def nbytes(self) -> int:
        extra = self.high.nbytes if self.high is not None else 0
        return self.track.nbytes + self.low.nbytes + extra

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.rule.metric)
        present = value == value  # NaN: not reported
        slots, ts, v = obs.local, obs.ts, value
        if np.count_nonzero(present) < v.size:
            slots, ts, v = slots[present], ts[present], v[present]
        thr, hyst = self.low[slots], self.rule.hysteresis
        if self.rule.op is Op.ABOVE:
            breach, cleared, score = v >= thr, v < thr - hyst, v - thr
        elif self.rule.op is Op.BELOW:
            breach, cleared, score = v <= thr, v > thr + hyst, thr - v
        else:
            assert self.high is not None
            high = self.high[slots]
            breach = (v < thr) | (v > high)
            cleared = (v > thr + hyst) & (v < high - hyst)
            score = np.maximum(thr - v, v - high)
        moves = self.track.step(slots, ts, breach, cleared, self.rule.hold_ms, v, score)
        return [self._alarm(slots[i], ts[i], v[i], state) for i, state in moves.each()]

    def _alarm(self, slot: int, ts: int, value: float, state: AlarmState) -> Alarm:
        t, rule = self.track, self.rule
        onset = int(t.onset[slot])
        evidence: dict[str, Any] = {
            "rule": "threshold", "metric": rule.metric, "op": rule.op.value,
            "threshold": float(self.low[slot]), "hysteresis": rule.hysteresis,
            "hold_ms": rule.hold_ms, "value": float(value), "peak": float(t.peak[slot]),
            "window": {"start_ms": onset, "end_ms": int(ts)},
        }
        if self.high is not None:
            evidence["threshold_high"] = float(self.high[slot])
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(t.refires[slot])
            evidence["window"]["end_ms"] = int(t.clear_since[slot])
        return self._index.alarm(int(self._globals[slot]), rule.kind, onset, int(ts), state,
                                 evidence)
