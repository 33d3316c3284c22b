"""The recent maximum of a signal per device, in a ring of time buckets: a few numbers per
device whatever the reporting rate. Buckets are window/4 wide and five are kept, so the maximum
covers between 1 and 1.25 windows. For a minimum, feed the negated signal."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.track import FloatArray, IntArray

BUCKETS = 5


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
        bucket = ts // self.width
        pos = bucket % BUCKETS
        fresh = self.bucket[slots, pos] != bucket
        self.bucket[slots, pos] = bucket
        current = np.where(fresh, -np.inf, self.value[slots, pos])
        self.value[slots, pos] = np.maximum(current, v)
        recent = self.bucket[slots] > (bucket - BUCKETS)[:, None]
        windowed: FloatArray = np.where(recent, self.value[slots], -np.inf).max(axis=1)
        return windowed.astype(np.float64)
