"""Threshold rules with minimum duration and hysteresis (catalogue defaults, per-device
overrides from the registry), one track per rule; compiled (``compiled``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.devices.catalogue import Op, ThresholdRule
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.arithmetic import maximum
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import (
    IDLE,
    AlarmTrack,
    BoolArray,
    FloatArray,
    IntArray,
    Move,
    ObservesMoves,
    TrackState,
    advance,
    at_rest,
    moves_of_rows,
)


def per_device(records: Sequence[DeviceRecord], setting: str | None,
               default: float) -> FloatArray:
    if setting is None:
        return np.full(len(records), default, np.float64)
    return np.array([r.setting(setting, default) for r in records], np.float64)


class ThresholdDetector(ObservesMoves, Stateful):
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

    row_wise = True  # each report against its own device's threshold (``rules.row_wise``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        # (Contiguous, as the compiled loop is compiled for: a column of a round's matrix is
        # strided, except on a round of one device.)
        v = np.ascontiguousarray(obs.column(self.rule.metric))
        track, high = self.track.arrays(), _NO_HIGH if self.high is None else self.high
        raised = obs.raised[self.track] = np.zeros(slots.size, np.bool_)
        return moves_of_rows(
            slots.size,
            lambda at: band_rows(track, self.track.clear_hold_ms, _OPS[self.rule.op], self.low,
                                 high, float(self.rule.hysteresis), int(self.rule.hold_ms),
                                 slots, ts, v, raised, at),
            lambda i, state: self._alarm(slots[i], ts[i], v[i], state))

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


# ``band_rows``' tests: the catalogue's, and BAND: outside [low, high] is a breach, inside is
# clear (no hysteresis; ``faults.PlausibleRangeDetector``).
_OPS = {Op.ABOVE: 0, Op.BELOW: 1, Op.OUTSIDE: 2}
BAND = 3
_NO_HIGH: FloatArray = np.zeros(0)


@compiled
def band_rows(track: TrackState, clear_hold_ms: int, op: int, low: FloatArray,
              high: FloatArray, hysteresis: float, hold_ms: int, slots: IntArray, ts: IntArray,
              v: FloatArray, raised: BoolArray, start: int) -> tuple[int, int]:
    """Each reported value (NaN: not reported) from row ``start`` on against its device's
    threshold, until one's alarm moves (``track.advance``): the row after it (the rows' count
    when none moved) and the move. ``op``: above, below, outside (``_OPS``), or ``BAND``.
    ``raised``: set where the alarm is raised after the row (``Observations.raised``).
    ``low``, ``high``: per device, or one for all."""
    state, pending = track[0], track[1]
    each = low.size > 1
    for i in range(start, slots.size):
        x, thr = v[i], low[slots[i] if each else 0]
        if x != x:
            continue
        if op == 0:
            breach, cleared, score = x >= thr, x < thr - hysteresis, x - thr
        elif op == 1:
            breach, cleared, score = x <= thr, x > thr + hysteresis, thr - x
        else:
            top = high[slots[i] if each else 0]
            breach = x < thr or x > top
            cleared = (not breach if op == BAND
                       else x > thr + hysteresis and x < top - hysteresis)
            score = maximum(thr - x, x - top)
        if at_rest(state[slots[i]], pending[slots[i]], breach):
            continue
        move = advance(track, clear_hold_ms, slots[i], ts[i], breach, cleared, hold_ms, x, score)
        raised[i] = state[slots[i]] != IDLE
        if move:
            return i + 1, move
    return slots.size, 0
