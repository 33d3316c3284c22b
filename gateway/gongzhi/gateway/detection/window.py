"""The recent maximum of a signal per device, in a ring of time buckets: a few numbers per
device whatever the reporting rate. Buckets are window/4 wide and five are kept, so the maximum
covers between 1 and 1.25 windows. For a minimum, feed the negated signal.

A value NaN (not known) makes its bucket's maximum NaN, as numpy's ``maximum`` does. The
compiled rules add and read it report by report (``window_add``, ``window_peak``)."""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.arithmetic import maximum
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.track import Float32Array, IntArray

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

    def arrays(self) -> tuple[Float32Array, IntArray]:
        """The arrays ``window_add`` and ``window_peak`` read and write."""
        return self.value, self.bucket


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
