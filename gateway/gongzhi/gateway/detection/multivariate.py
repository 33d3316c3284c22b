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

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.observations import Observations
from gongzhi.gateway.detection.track import IDLE, AlarmTrack, IntArray

MINUTE_MS = 60_000


class ThermalResidualDetector(Stateful):
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

    def predict(self, slots: IntArray, load: np.ndarray) -> np.ndarray:
        w, sx, sxx, sy, sxy = (self.sums[slots, k] for k in range(5))
        det = w * sxx - sx * sx
        usable = det > 1e-9 * np.maximum(w * sxx, 1e-12)
        slope = np.where(usable, (w * sxy - sx * sy) / np.where(usable, det, 1), 0.0)
        mean_x, mean_y = sx / np.maximum(w, 1e-12), sy / np.maximum(w, 1e-12)
        prediction: np.ndarray = mean_y + slope * (load - mean_x)
        return prediction

    def observe(self, obs: Observations) -> list[Alarm]:
        current, temp = obs.column("current_a"), obs.column("cable_temp_c")
        both = ~np.isnan(current) & ~np.isnan(temp)
        s, ts, i, y = obs.local[both], obs.ts[both], current[both], temp[both]
        new = self.first_ts[s] == 0
        self.first_ts[s[new]] = ts[new]
        dt = np.where(new, 0, ts - self.last_ts[s]).clip(0)
        lag = 1.0 - np.exp(-dt / self.THERMAL_TAU_MS)
        previous = self.load[s]
        load = np.where(np.isnan(previous), i * i, previous + lag * (i * i - previous))
        self.load[s] = load

        expected = self.predict(s, load)
        residual = y - expected
        limit = np.maximum(self.K * 1.2533 * self.scale[s], self.MIN_DEV_C)
        warm = ts - self.first_ts[s] >= self.WARM_MS
        breach = warm & (residual >= limit)
        moves = self.track.step(s, ts, breach, residual < limit / 2, self.HOLD_MS, y, residual)

        quiet = (self.track.state[s] == IDLE) & (self.track.pending[s] < 0) & ~breach
        q = s[quiet]
        forget = np.exp(-dt[quiet] / self.FORGET_TAU_MS)[:, None]
        x, yq = load[quiet], y[quiet]
        self.sums[q] = self.sums[q] * forget + np.stack([np.ones_like(x), x, x * x, yq, x * yq],
                                                        axis=1)
        seen = self.sums[q, 0] > 2
        abs_res = np.minimum(np.abs(residual[quiet]), limit[quiet])
        alpha = np.where(seen, 1.0 - forget[:, 0] + 1.0 / self.sums[q, 0], 0.0).clip(0, 1)
        self.scale[q] += alpha * (abs_res - self.scale[q])
        self.last_ts[s] = ts

        alarms = []
        for k, state in moves.each():
            slot, onset = int(s[k]), int(self.track.onset[s[k]])
            evidence = {"rule": "multivariate", "model": "cable_temp ~ a + b*smoothed(I^2)",
                        "metrics": ["current_a", "cable_temp_c"],
                        "value": float(y[k]), "expected": float(expected[k]),
                        "residual": float(residual[k]), "limit": float(limit[k]),
                        "current_a": float(i[k]), "hold_ms": self.HOLD_MS,
                        "peak": float(self.track.peak[slot]),
                        "window": {"start_ms": onset, "end_ms": int(ts[k])}}
            alarms.append(self._index.alarm(int(self._globals[slot]),
                                            AlarmKind.CABLE_OVERHEAT, onset, int(ts[k]),
                                            state, evidence))
        return alarms
