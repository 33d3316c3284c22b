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
import numpy.typing as npt

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.learning import decay, smoothing
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.thresholds import BAND, band_rows
from gongzhi.gateway.detection.track import (
    IDLE,
    AlarmTrack,
    BoolArray,
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


class FlatlineDetector(ObservesMoves, Stateful):
    DEVICE_STATE = ("last", "same_since", "last_ts", "short", "long", "count", "stuck")
    DERIVED = ("_globals",)
    NESTED = ("track",)  # ``explained_by``: the threshold rules' tracks, theirs to carry

    SHORT_ALPHA = 0.1  # recent steps: about the last ten readings
    LONG_TAU_MS = 24 * HOUR_MS
    WARM = 100  # readings before the typical step is trusted
    RATIO = 0.05

    row_wise = True  # each report against its own device's steps (``rules.row_wise``)

    def __init__(self, metric: tuple[str, float], records: Sequence[DeviceRecord],
                 globals_: IntArray, index: DeviceIndex, clear_hold_ms: int,
                 hold_ms: int = 30 * 60_000, explained_by: Sequence[AlarmTrack] = ()) -> None:
        n = len(records)
        (self.metric, self.floor), self.hold_ms = metric, hold_ms
        self.reads = (self.metric,)
        # While a process alarm on the same metric is raised (pressure held low by a failed
        # pump), a still reading is explained by the process: no verdict, no learning. Their
        # rules run before this one, leaving what they were after each row
        # (``Observations.raised``).
        self.explained_by = tuple(explained_by)
        self.last = np.full(n, np.nan, np.float32)
        self.same_since = np.zeros(n, np.int64)
        self.last_ts = np.zeros(n, np.int64)
        self.short = np.zeros(n, np.float32)
        self.long = np.zeros(n, np.float32)
        self.count = np.zeros(n, np.uint16)
        self.stuck = np.zeros(n, np.bool_)  # the open alarm's fault: stuck, or noise gone
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.last, self.same_since, self.last_ts, self.short,
                                      self.long, self.count, self.stuck)) + self.track.nbytes

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        v = np.ascontiguousarray(obs.column(self.metric))
        explained = np.zeros(slots.size, np.bool_)
        for explaining in self.explained_by:
            raised = obs.raised.get(explaining)
            if raised is None:
                raise RuntimeError(f"the flatline rule on {self.metric} reads a threshold "
                                   "rule's alarm that has not taken these rows before it")
            explained |= raised
        # Two passes: what follows from the readings alone (each row's step and the gap since
        # the device's last known reading), then what follows from the alarm's state. Between
        # them numpy gives the learning's decay (its exp, not the compiler's: the two differ in
        # the last bit, and the rule keeps the arithmetic it always had).
        known = np.zeros(slots.size, np.bool_)
        step = np.zeros(slots.size, np.float64)
        gap = np.zeros(slots.size, np.int64)
        since = np.zeros(slots.size, np.int64)
        _steps(self.last, self.same_since, self.last_ts, slots, ts, v, known, step, gap, since)
        learn = decay(gap, self.LONG_TAU_MS)
        track = self.track.arrays()
        return moves_of_rows(
            slots.size,
            lambda at: _flatline_rows(
                track, self.track.clear_hold_ms, self.short, self.long, self.count, self.floor,
                self.hold_ms, self.SHORT_ALPHA, self.WARM, self.RATIO, 4 * self.RATIO, slots,
                ts, v, known, step, learn, explained, at),
            lambda i, state: self._alarm(int(slots[i]), int(ts[i]), float(np.float32(v[i])),
                                         int(since[i]), state))

    def _alarm(self, slot: int, ts: int, value: float, same_since: int,
               state: AlarmState) -> Alarm:
        onset = int(self.track.onset[slot])
        stuck_ms = ts - same_since
        # A CLEAR names the fault its RAISE named: at the clear the reading moves again.
        if state is AlarmState.RAISE:
            self.stuck[slot] = stuck_ms >= self.hold_ms // 2
        evidence = {
            "rule": "sensor_fault",
            "fault": "stuck" if self.stuck[slot] else "noise_gone",
            "metric": self.metric, "value": value, "stuck_ms": stuck_ms,
            "recent_step": float(self.short[slot]), "typical_step": float(self.long[slot]),
            "ratio": self.RATIO, "hold_ms": self.hold_ms,
            "window": {"start_ms": onset, "end_ms": ts},
        }
        if state is AlarmState.CLEAR:
            evidence["refires"] = int(self.track.refires[slot])
        return self._index.alarm(int(self._globals[slot]), AlarmKind.SENSOR_FAULT, onset, ts,
                                 state, evidence)


@compiled
def _steps(last: Float32Array, same_since: IntArray, last_ts: IntArray, slots: IntArray,
           ts: IntArray, v: FloatArray, known: BoolArray, step: FloatArray, gap: IntArray,
           since: IntArray) -> None:
    """The flatline rule's first pass: per reported row (NaN: not reported) after a device's
    first, ``known``, its step from the last reading (compared in the stored float32, so an
    exact repeat is a zero step), the gap since the last known reading and when the reading
    last moved."""
    for i in range(slots.size):
        if v[i] != v[i]:
            continue
        j, x = slots[i], np.float32(v[i])
        previous, last[j] = last[j], x
        if previous != previous:
            continue
        known[i], step[i] = True, np.float64(abs(x - previous))
        if step[i] > 0:
            same_since[j] = ts[i]
        since[i], gap[i], last_ts[j] = same_since[j], ts[i] - last_ts[j], ts[i]


@compiled
def _flatline_rows(track: TrackState, clear_hold_ms: int, short: Float32Array,
                   long: Float32Array, count: npt.NDArray[np.uint16], floor: float,
                   hold_ms: int, short_alpha: float, warm_count: int, ratio: float,
                   clear_ratio: float, slots: IntArray, ts: IntArray, v: FloatArray,
                   known: BoolArray, step: FloatArray, learn: FloatArray, explained: BoolArray,
                   start: int) -> tuple[int, int]:
    """The flatline rule's second pass from row ``start`` on, until an alarm moves
    (``track.moves_of_rows``): the recent step, the verdict, and the typical step learned
    while nothing is raised or explained (``learn``: the decay over the row's gap)."""
    state, pending = track[0], track[1]
    for i in range(start, slots.size):
        if not known[i]:
            continue
        j, x, s = slots[i], np.float32(v[i]), step[i]
        recent = np.float32(np.float64(short[j]) + short_alpha * (s - np.float64(short[j])))
        short[j] = recent
        seen, typical = np.int64(count[j]), long[j]
        pinned = bool(x <= np.float32(floor) or explained[i])
        warm = bool(seen >= warm_count and not pinned)
        breach = bool(warm and recent < np.float32(ratio) * typical)
        cleared = bool(not warm or recent > np.float32(clear_ratio) * typical)
        move = 0
        if not at_rest(state[j], pending[j], breach):
            move = advance(track, clear_hold_ms, j, ts[i], breach, cleared, hold_ms,
                           np.float64(x), -np.float64(recent))
        if state[j] == IDLE and pending[j] < 0 and not pinned:
            alpha = smoothing(learn[i], seen + 1)
            long[j] = np.float32(np.float64(typical) + alpha * (s - np.float64(typical)))
            count[j] = seen + 1 if seen < 65535 else seen
        if move:
            return i + 1, move
    return slots.size, 0


class PlausibleRangeDetector(ObservesMoves, Stateful):
    DERIVED = ("low", "high", "_globals")
    NESTED = ("track",)

    row_wise = True  # each report against the band (``rules.row_wise``)

    def __init__(self, band: Plausible, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        self.band = band
        self.reads = (band.metric,)
        # (One for all, as the compiled loop shared with the thresholds reads them.)
        self.low, self.high = np.array([band.low]), np.array([band.high])
        self.track = AlarmTrack(len(records), clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return self.track.nbytes + self.low.nbytes + self.high.nbytes

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts, b = obs.local, obs.ts, self.band
        v = np.ascontiguousarray(obs.column(b.metric))
        track, raised = self.track.arrays(), np.zeros(slots.size, np.bool_)
        return moves_of_rows(
            slots.size,
            lambda at: band_rows(track, self.track.clear_hold_ms, BAND, self.low, self.high,
                                 0.0, b.hold_ms, slots, ts, v, raised, at),
            lambda i, state: self._alarm(int(slots[i]), int(ts[i]), float(v[i]), state))

    def _alarm(self, slot: int, ts: int, value: float, state: AlarmState) -> Alarm:
        b, onset = self.band, int(self.track.onset[slot])
        evidence = {"rule": "sensor_fault", "fault": "out_of_range", "metric": b.metric,
                    "value": value, "low": b.low, "high": b.high, "hold_ms": b.hold_ms,
                    "peak": float(self.track.peak[slot]),
                    "window": {"start_ms": onset, "end_ms": ts}}
        return self._index.alarm(int(self._globals[slot]), AlarmKind.SENSOR_FAULT, onset, ts,
                                 state, evidence)
