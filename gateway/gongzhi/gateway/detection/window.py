"""The recent maximum of a signal per device, in a ring of time buckets: a few numbers per
device whatever the reporting rate. Buckets are window/4 wide and five are kept, so the maximum
covers between 1 and 1.25 windows. For a minimum, feed the negated signal."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.track import FloatArray, IntArray, constant

BUCKETS = 5
_BUCKETS = constant(BUCKETS, np.int64)


class WindowMax(Stateful):
    DEVICE_STATE = ("value", "bucket")

    def __init__(self, size: int, window_ms: int) -> None:
        self.window_ms = window_ms
        self.width = max(1, window_ms // (BUCKETS - 1))
        self.value = np.full((size, BUCKETS), -np.inf, np.float32)
        self.bucket = np.full((size, BUCKETS), -1, np.int64)

    @property
    def nbytes(self) -> int:
        return self.value.nbytes + self.bucket.nbytes

    def update(self, slots: IntArray, ts: IntArray, v: FloatArray) -> FloatArray:
        """Add one observation per slot (unique slots); return the window's maximum including it."""
        self.add(slots, ts, v)
        return self.peak(slots, ts)

    def add(self, slots: IntArray, ts: IntArray, v: FloatArray) -> None:
        """Add one observation per slot (unique slots)."""
        bucket = ts // self.width
        cell = slots * _BUCKETS + bucket % _BUCKETS  # flat positions (see ``CorridorResidual``)
        fresh = self.bucket.take(cell) != bucket
        news = np.count_nonzero(fresh)
        if news == 0:  # (most reports: the buckets are a quarter of the window wide)
            self.value.put(cell, np.maximum(self.value.take(cell), v))
            return
        self.bucket.put(cell, bucket)
        current = np.where(fresh, -np.inf, self.value.take(cell)) if news < cell.size else \
            np.full(cell.size, -np.inf, np.float32)
        self.value.put(cell, np.maximum(current, v))

    def peak(self, slots: IntArray, ts: IntArray) -> FloatArray:
        """The window's maximum at ``ts`` of each slot (its last observation's time or later)."""
        bucket = ts // self.width
        recent = self.bucket.take(slots, axis=0) > (bucket - BUCKETS)[:, None]
        windowed: FloatArray = np.where(recent, self.value.take(slots, axis=0), -np.inf).max(axis=1)
        return windowed.astype(np.float64)
