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
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.thresholds import per_device
from gongzhi.gateway.detection.track import (
    AlarmTrack,
    Float32Array,
    FloatArray,
    IntArray,
    Move,
    ObservesMoves,
    TrackState,
    advance,
    at_rest,
    moves_of_rows,
)
from gongzhi.gateway.detection.window import WindowMax, window_add, window_peak


class RateDetector(ObservesMoves, Stateful):
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

    row_wise = True  # each report against its own device's window (``rules.row_wise``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        v = np.ascontiguousarray(obs.column(self.rule.metric))
        reference = np.empty(slots.size)  # each row's recent maximum: an alarm's evidence
        track, window = self.track.arrays(), self.recent.arrays()
        return moves_of_rows(
            slots.size,
            lambda at: _rate_rows(track, self.track.clear_hold_ms, window, self.recent.width,
                                  self.drop, self.ceiling, slots, ts, v, reference, at),
            lambda i, state: self._alarm(slots[i], ts[i], v[i], float(reference[i]), state))

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


@compiled
def _rate_rows(track: TrackState, clear_hold_ms: int,
               window: tuple[Float32Array, IntArray], width: int, drop: FloatArray,
               ceiling: FloatArray, slots: IntArray, ts: IntArray, v: FloatArray,
               reference: FloatArray, start: int) -> tuple[int, int]:
    """Each reported value (NaN: not reported) from row ``start`` on into its device's window
    and against the window's maximum (``reference``), until an alarm moves
    (``track.moves_of_rows``)."""
    state, pending = track[0], track[1]
    value, bucket = window
    for i in range(start, slots.size):
        x, j = v[i], slots[i]
        if x != x:
            continue
        window_add(value, bucket, width, j, ts[i], x)
        reference[i] = window_peak(value, bucket, width, j, ts[i])
        fall = reference[i] - x
        breach = bool(fall >= drop[j] and reference[i] < ceiling[j])
        if at_rest(state[j], pending[j], breach):
            continue
        move = advance(track, clear_hold_ms, j, ts[i], breach,
                       bool(not breach and fall < drop[j] / 2), 0, x, fall)
        if move:
            return i + 1, move
    return slots.size, 0
