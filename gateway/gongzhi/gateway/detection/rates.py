"""Rate-of-change rules: a fall of at least ``drop`` within ``window_ms`` (a burst pipe, an
opened hydrant), measured from the recent maximum (``WindowMax``: between 60 s and 75 s back
for a 60 s window). A fall from above the metric's high alarm threshold is the end of an
over-pressure, not a burst: it does not count."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.catalogue import RateRule
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.thresholds import per_device
from gongzhi.gateway.detection.track import AlarmTrack, FloatArray, IntArray
from gongzhi.gateway.detection.window import WindowMax


class RateDetector(Stateful):
    DERIVED = ("drop", "ceiling", "_globals")
    NESTED = ("recent", "track")

    def __init__(self, rule: RateRule, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int,
                 ceiling: FloatArray | None = None) -> None:
        self.rule = rule
        self.drop = per_device(records, rule.setting, rule.drop)
        self.ceiling = ceiling if ceiling is not None else np.full(len(records), np.inf)
        self.recent = WindowMax(len(records), rule.window_ms)
        self.track = AlarmTrack(len(records), clear_hold_ms)
        self._globals = globals_
        self._index = index

    @property
    def nbytes(self) -> int:
        return self.track.nbytes + self.drop.nbytes + self.recent.nbytes

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.rule.metric,)

    def observe(self, obs: Observations) -> list[Alarm]:
        value = obs.column(self.rule.metric)
        present = ~np.isnan(value)
        slots, ts, v = obs.local[present], obs.ts[present], value[present]
        reference = self.recent.update(slots, ts, v)
        fall = reference - v
        drop = self.drop[slots]
        breach = (fall >= drop) & (reference < self.ceiling[slots])
        cleared = ~breach & (fall < drop / 2)
        moves = self.track.step(slots, ts, breach, cleared, 0, v, fall)
        return [self._alarm(slots[i], ts[i], v[i], float(reference[i]), state)
                for i, state in moves.each()]

    def _alarm(self, slot: int, ts: int, value: float, reference: float,
               state: AlarmState) -> Alarm:
        t = self.track
        onset = int(t.onset[slot])
        evidence = {
            "rule": "rate", "metric": self.rule.metric, "drop": float(self.drop[slot]),
            "window_ms": self.rule.window_ms, "value": float(value),
            "reference_max": reference, "lowest": float(t.peak[slot]),
            "window": {"start_ms": onset - self.rule.window_ms, "end_ms": int(ts)},
        }
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(t.refires[slot])
        return self._index.alarm(int(self._globals[slot]), self.rule.kind, onset, int(ts), state,
                                 evidence)
