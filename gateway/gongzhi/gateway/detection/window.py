"""The recent maximum of a signal per device, in a ring of time buckets: a few numbers per
device whatever the reporting rate. Buckets are window/4 wide and five are kept, so the maximum
covers between 1 and 1.25 windows. For a minimum, feed the negated signal.

A value NaN (not known) makes its bucket's maximum NaN, as numpy's ``maximum`` does."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.arithmetic import maximum
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.track import Float32Array, FloatArray, IntArray

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
        self.add(slots, ts, v)
        return self.peak(slots, ts)

    def add(self, slots: IntArray, ts: IntArray, v: FloatArray) -> None:
        """Add one observation per slot (unique slots)."""
        # (Contiguous float64, the one type the loop is compiled for.)
        _add_all(self.value, self.bucket, self.width, slots, ts,
                 np.ascontiguousarray(v, np.float64))

    def peak(self, slots: IntArray, ts: IntArray) -> FloatArray:
        """The window's maximum at ``ts`` of each slot (its last observation's time or later)."""
        out = np.empty(slots.size)
        _peak_all(self.value, self.bucket, self.width, slots, ts, out)
        return out


@compiled
def window_add(value: Float32Array, bucket: IntArray, width: int, slot: int, ts: int,
               v: float) -> None:
    """Add ``v`` at ``ts`` to the window of ``slot`` (``value``, ``bucket``: a ``WindowMax``'s)."""
    b = ts // width
    cell = b % BUCKETS
    if bucket[slot, cell] != b:
        bucket[slot, cell] = b
        value[slot, cell] = v
    else:
        value[slot, cell] = maximum(float(value[slot, cell]), v)


@compiled
def window_peak(value: Float32Array, bucket: IntArray, width: int, slot: int, ts: int) -> float:
    """The window's maximum of ``slot`` at ``ts`` (its last observation's time or later)."""
    oldest = ts // width - BUCKETS
    peak = -np.inf
    for cell in range(BUCKETS):
        if bucket[slot, cell] > oldest:
            peak = maximum(peak, float(value[slot, cell]))
    return peak


@compiled
def _add_all(value: Float32Array, bucket: IntArray, width: int, slots: IntArray, ts: IntArray,
             v: FloatArray) -> None:
    for i in range(slots.size):
        window_add(value, bucket, width, slots[i], ts[i], v[i])


@compiled
def _peak_all(value: Float32Array, bucket: IntArray, width: int, slots: IntArray, ts: IntArray,
              out: FloatArray) -> None:
    for i in range(slots.size):
        out[i] = window_peak(value, bucket, width, slots[i], ts[i])
