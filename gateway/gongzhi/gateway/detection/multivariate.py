"""Correlated channels of an electrical monitor: the cable temperature follows the load through
a first-order thermal lag (temperature rise ~ current squared). Per device an online weighted
least-squares line, temp = a + b x load, where load is the current squared smoothed with the
cable's time constant, with exponential forgetting (days). A temperature far above what the
load explains (a loose terminal, a failing joint) raises ``cable_overheat`` before the fixed
70 °C threshold, with the model's prediction as evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import (
    IDLE,
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

MINUTE_MS = 60_000


class ThermalResidualDetector(ObservesMoves, Stateful):
    DEVICE_STATE = ("load", "sums", "scale", "first_ts", "last_ts")
    DERIVED = ("_globals",)
    NESTED = ("track",)

    THERMAL_TAU_MS = 15 * MINUTE_MS
    FORGET_TAU_MS = 3 * 24 * 60 * MINUTE_MS
    MIN_DEV_C = 12.0  # design choice: well above daily ambient swings
    K = 6.0
    HOLD_MS = 10 * MINUTE_MS
    WARM_MS = 24 * 60 * MINUTE_MS  # a day of data before the model may alarm
    reads = ("current_a", "cable_temp_c")

    def __init__(self, records: Sequence[DeviceRecord], globals_: IntArray,
                 index: DeviceIndex, clear_hold_ms: int) -> None:
        n = len(records)
        self.load = np.full(n, np.nan, np.float32)
        # Weighted sums: weight, Σx, Σx², Σy, Σxy (x = load, y = temperature).
        self.sums = np.zeros((n, 5), np.float64)
        self.scale = np.zeros(n, np.float32)
        self.first_ts = np.zeros(n, np.int64)
        self.last_ts = np.zeros(n, np.int64)
        self.track = AlarmTrack(n, clear_hold_ms)
        self._globals, self._index = globals_, index

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.load, self.sums, self.scale, self.first_ts,
                                      self.last_ts)) + self.track.nbytes

    row_wise = True  # each report against its own device's model (``rules.row_wise``)

    def observe_moves(self, obs: Observations) -> list[Move]:
        slots, ts = obs.local, obs.ts
        current = np.ascontiguousarray(obs.column("current_a"))
        temp = np.ascontiguousarray(obs.column("cable_temp_c"))
        # Two passes: the gaps between a device's reports (from the reports alone), then the
        # model and the verdict. Between them numpy gives the lag's and the forgetting's exp
        # (not the compiler's: the two differ in the last bit, and the rule keeps its
        # arithmetic).
        gap = np.zeros(slots.size, np.int64)
        _gaps(self.first_ts, self.last_ts, slots, ts, current, temp, gap)
        lag = 1.0 - np.exp(-gap / self.THERMAL_TAU_MS)
        forget = np.exp(-gap / self.FORGET_TAU_MS)
        # Each row's prediction, residual and limit: an alarm's evidence.
        seen = np.zeros((3, slots.size), np.float64)
        track = self.track.arrays()
        return moves_of_rows(
            slots.size,
            lambda at: _thermal_rows(
                track, self.track.clear_hold_ms, self.load, self.sums, self.scale,
                self.first_ts, self.K * 1.2533, self.MIN_DEV_C, self.WARM_MS, self.HOLD_MS,
                slots, ts, current, temp, lag, forget, seen, at),
            lambda k, state: self._alarm(int(slots[k]), int(ts[k]), float(current[k]),
                                         float(temp[k]), seen[:, k].tolist(), state))

    def _alarm(self, slot: int, ts: int, current: float, value: float, seen: list[float],
               state: AlarmState) -> Alarm:
        expected, residual, limit = seen
        onset = int(self.track.onset[slot])
        evidence = {"rule": "multivariate", "model": "cable_temp ~ a + b*smoothed(I^2)",
                    "metrics": ["current_a", "cable_temp_c"],
                    "value": value, "expected": expected, "residual": residual,
                    "limit": limit, "current_a": current, "hold_ms": self.HOLD_MS,
                    "peak": float(self.track.peak[slot]),
                    "window": {"start_ms": onset, "end_ms": ts}}
        return self._index.alarm(int(self._globals[slot]), AlarmKind.CABLE_OVERHEAT, onset, ts,
                                 state, evidence)


@compiled
def _gaps(first_ts: IntArray, last_ts: IntArray, slots: IntArray, ts: IntArray,
          current: FloatArray, temp: FloatArray, gap: IntArray) -> None:
    """The first pass: per row reporting both metrics, the gap since its device's last such
    report (0 for a device's first)."""
    for i in range(slots.size):
        if current[i] != current[i] or temp[i] != temp[i]:
            continue
        j = slots[i]
        if first_ts[j] == 0:
            first_ts[j] = ts[i]
        else:
            gap[i] = max(ts[i] - last_ts[j], 0)
        last_ts[j] = ts[i]


@compiled
def _thermal_rows(track: TrackState, clear_hold_ms: int, load: Float32Array,
                  sums: npt.NDArray[np.float64], scale: Float32Array, first_ts: IntArray,
                  k_scale: float, min_dev: float, warm_ms: int, hold_ms: int, slots: IntArray,
                  ts: IntArray, current: FloatArray, temp: FloatArray, lag: FloatArray,
                  forget: FloatArray, seen: npt.NDArray[np.float64],
                  start: int) -> tuple[int, int]:
    """The second pass from row ``start`` on, until an alarm moves (``track.moves_of_rows``):
    the smoothed load, the model's prediction (``seen``: prediction, residual, limit), the
    verdict, and the model and its scale learned while nothing is raised or breached."""
    state, pending = track[0], track[1]
    for i in range(start, slots.size):
        x, y = current[i], temp[i]
        if x != x or y != y:
            continue
        j = slots[i]
        previous = load[j]
        smoothed = (x * x if previous != previous
                    else np.float64(previous) + lag[i] * (x * x - np.float64(previous)))
        load[j] = np.float32(smoothed)
        expected = _predict(sums[j], smoothed)
        residual = y - expected
        limit = max(np.float32(k_scale) * scale[j], np.float32(min_dev))
        breach = bool(ts[i] - first_ts[j] >= warm_ms and residual >= limit)
        seen[0, i], seen[1, i], seen[2, i] = expected, residual, limit
        move = 0
        if not at_rest(state[j], pending[j], breach):
            move = advance(track, clear_hold_ms, j, ts[i], breach, bool(residual < limit / 2),
                           hold_ms, y, residual)
        if state[j] == IDLE and pending[j] < 0 and not breach:
            f, row = forget[i], sums[j]
            row[0], row[1], row[2] = row[0] * f + 1.0, row[1] * f + smoothed, \
                row[2] * f + smoothed * smoothed
            row[3], row[4] = row[3] * f + y, row[4] * f + smoothed * y
            alpha = min(max(1.0 - f + 1.0 / row[0], 0.0), 1.0) if row[0] > 2 else 0.0
            s = np.float64(scale[j])
            scale[j] = np.float32(s + alpha * (min(abs(residual), np.float64(limit)) - s))
        if move:
            return i + 1, move
    return slots.size, 0


@compiled
def _predict(sums: npt.NDArray[np.float64], load: float) -> float:
    """The weighted least-squares line's temperature at ``load`` (``sums``: weight, Σx, Σx²,
    Σy, Σxy); the weighted mean where the loads seen do not yet give a slope."""
    w, sx, sxx, sy, sxy = sums[0], sums[1], sums[2], sums[3], sums[4]
    det = w * sxx - sx * sx
    slope = (w * sxy - sx * sy) / det if det > 1e-9 * max(w * sxx, 1e-12) else 0.0
    return float(sy / max(w, 1e-12) + slope * (load - sx / max(w, 1e-12)))
